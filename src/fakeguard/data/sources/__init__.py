"""Dataset layouts -> media items, one module per dataset.

A source only lists media; it never decodes them. Everything that can go wrong with a file
(missing, corrupt, no face) is found and recorded later by `fakeguard.data.prepare`.

Adding a dataset is one module here, whose lister is decorated with `@register("<name>")`
(see `common.Source`), plus `configs/source/<name>.yaml`: every module of this package is
imported below, so the source is listed in `SOURCES` and `source=<name>` works.
"""

from __future__ import annotations

import importlib
import pkgutil

from fakeguard.data.sources.celebdf import CELEBDF_FOLDERS, CELEBDF_TEST_LIST, celebdf_items
from fakeguard.data.sources.common import (
    REGISTRY,
    MediaItem,
    MediaKind,
    Source,
    check_options,
    list_items,
    register,
    source_names,
)
from fakeguard.data.sources.dfdc import dfdc_items
from fakeguard.data.sources.ffpp import (
    FFPP_COMPRESSIONS,
    FFPP_METHODS,
    check_ffpp_options,
    ffpp_items,
)
from fakeguard.data.sources.folders import folder_items

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

SOURCES = source_names()

__all__ = [
    "CELEBDF_FOLDERS",
    "CELEBDF_TEST_LIST",
    "FFPP_COMPRESSIONS",
    "FFPP_METHODS",
    "REGISTRY",
    "SOURCES",
    "MediaItem",
    "MediaKind",
    "Source",
    "celebdf_items",
    "check_ffpp_options",
    "check_options",
    "dfdc_items",
    "ffpp_items",
    "folder_items",
    "list_items",
    "register",
    "source_names",
]
