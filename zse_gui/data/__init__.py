"""Dataset readers and file IO: Sketchy / TU-Berlin / QuickDraw layouts, split lists, images, sketch files.

No torch here: readers return ``SbirData`` (paths and labels; pixels on demand as uint8 numpy).
The torch datasets for training live in ``zse_gui.train``.
"""

from zse_gui.data.collection import Sample, SbirData
from zse_gui.data.filelist import ListEntry, read_file_list, write_file_list
from zse_gui.data.imageio import IMAGE_EXTENSIONS, is_image_file, read_image_rgb
from zse_gui.data.layouts import (
    LAYOUTS,
    open_dataset,
    read_class_folders,
    read_extended,
    read_file_lists,
    read_quickdraw_ext,
    read_sketchy_ext,
    read_tuberlin_ext,
)
from zse_gui.data.sketch_files import LoadedSketch, load_sketch_file
from zse_gui.data.splits import (
    BUILTIN_SPLITS,
    ZeroShotSplit,
    canonical_class,
    get_split,
    read_split_file,
    resolve_split,
)

__all__ = [
    "BUILTIN_SPLITS",
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "ListEntry",
    "LoadedSketch",
    "Sample",
    "SbirData",
    "ZeroShotSplit",
    "canonical_class",
    "get_split",
    "is_image_file",
    "load_sketch_file",
    "open_dataset",
    "read_class_folders",
    "read_extended",
    "read_file_list",
    "read_file_lists",
    "read_image_rgb",
    "read_quickdraw_ext",
    "read_sketchy_ext",
    "read_split_file",
    "read_tuberlin_ext",
    "resolve_split",
    "write_file_list",
]
