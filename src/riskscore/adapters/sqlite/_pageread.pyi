class SqliteError(Exception): ...

def load(path: str, module: str, /) -> str: ...
def read_page(
    path: str,
    sql: str,
    params: tuple[int | str, ...],
    rows: int,
    busy_timeout_ms: int,
    mmap_size: int,
    /,
) -> tuple[int, int, str, str, str, str, bytes] | None: ...
