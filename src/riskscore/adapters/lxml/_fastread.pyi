from collections.abc import Mapping

from lxml import etree

from riskscore.domain.evidence import RxFill

def configure(
    element_type: type[etree._Element],
    fill_type: type[RxFill],
    field_names: tuple[str, ...],
    dates: Mapping[str, object],
    counts: Mapping[str, object],
    amounts: Mapping[str, object],
    strengths: Mapping[str, object],
) -> None: ...
def read_fills(root: etree._Element) -> list[RxFill] | None: ...
def deeper_than(root: etree._Element, max_depth: int) -> bool: ...
