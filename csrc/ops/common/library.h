// Where the op files register: the operator namespace and the dispatch key of the CUDA glue.
//
// The normal build registers torch.ops.smg_fast.* (CPU kernels for CPU, CUDA glue for CUDA). The
// CUDA emulation build (SMG_CUDA_EMULATION, see ../cuda/emulation.h) compiles the same schema,
// validation and CUDA glue files once more, as plain C++, into torch.ops.smg_fast_emu.*, with the
// CUDA glue registered for CPU tensors: its kernels then run on the CPU through emulation.h.
#pragma once

#include <torch/library.h>

#ifdef SMG_CUDA_EMULATION
#define SMG_FAST_NS smg_fast_emu
#define SMG_FAST_CUDA_GLUE_KEY CPU
#else
#define SMG_FAST_NS smg_fast
#define SMG_FAST_CUDA_GLUE_KEY CUDA
#endif

// One level of indirection so that SMG_FAST_NS / the key are expanded before torch pastes them.
#define SMG_FAST_EXPAND_FRAGMENT(ns, m) TORCH_LIBRARY_FRAGMENT(ns, m)
#define SMG_FAST_EXPAND_IMPL(ns, key, m) TORCH_LIBRARY_IMPL(ns, key, m)
#define SMG_FAST_STRINGIFY_(x) #x
#define SMG_FAST_STRINGIFY(x) SMG_FAST_STRINGIFY_(x)

// Declares an op's schema (once, in ops/<op>.cpp).
#define SMG_FAST_SCHEMAS(m) SMG_FAST_EXPAND_FRAGMENT(SMG_FAST_NS, m)
// Registers CPU kernels (ops/cpu/<op>_kernel.cpp; normal build only).
#define SMG_FAST_CPU_KERNELS(m) SMG_FAST_EXPAND_IMPL(SMG_FAST_NS, CPU, m)
// Registers the CUDA glue (ops/cuda/<op>_glue.cpp): CUDA tensors, or CPU tensors under emulation.
#define SMG_FAST_CUDA_GLUE(m) SMG_FAST_EXPAND_IMPL(SMG_FAST_NS, SMG_FAST_CUDA_GLUE_KEY, m)
// "smg_fast::name" (or "smg_fast_emu::name"), for dispatcher look-ups.
#define SMG_FAST_OP_NAME(name) SMG_FAST_STRINGIFY(SMG_FAST_NS) "::" name
