// `import smg_fast._C` loads this shared library; its static initialisers register the ops with the
// dispatcher (TORCH_LIBRARY). The module itself is empty, so this unit needs only Python.h
// (no pybind11, no torch/extension.h: a 30 s compile saved per build).
#include <Python.h>

extern "C" PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C",
                                      "smg_fast's compiled op library (ops: torch.ops.smg_fast.*)",
                                      -1, nullptr};
  return PyModule_Create(&module);
}
