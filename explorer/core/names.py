"""What may name a layer, and text that no name or value may hold.

A layer's name becomes a Python attribute of the built model (and of the exported source),
so it must be an identifier that neither Python nor torch.nn.Module already uses.
"""

from __future__ import annotations

import keyword
import re

_UNWRITABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # categories Cc and Cs


def control_character(text: str) -> str | None:
    """The first control character or lone surrogate in `text`, described (e.g. 'the
    control character U+0000'), or None.

    Neither belongs in a name: a NUL cannot be written into Python source (exports), other
    control characters garble a terminal, and a lone surrogate cannot be written as UTF-8.
    """
    found = _UNWRITABLE.search(text)
    if found is None:
        return None
    code = ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"the lone surrogate U+{code:04X}, which is not text"
    return f"the control character U+{code:04X}"


MAX_NAME_LENGTH = 100
_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Attribute names of torch.nn.Module: a layer module registered under one of these would
# shadow it (tests/core/test_spec.py keeps this list in step with torch).
RESERVED_NAMES = frozenset(
    {
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "smart_apply",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
        # Attributes of the built Network itself.
        "layer_names",
        "final_softmax",
        "penalties",
        "penalty",
        "predict_proba",
        "input_shape",
        "layer_modules",
    }
)


def check_layer_name(name: str) -> str | None:
    """Why `name` cannot name a layer, or None when it can."""
    if not _NAME_PATTERN.fullmatch(name):
        return "must start with a letter or _ and hold only letters, digits and _"
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    if keyword.iskeyword(name):
        return "is a Python keyword"
    if name in RESERVED_NAMES:
        return "is reserved by PyTorch modules"
    return None
