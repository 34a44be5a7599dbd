// The one CUDA glue unit that includes c10/cuda headers (30 s or more to compile each time they are
// included): the current-stream lookup every <op>_glue.cpp uses.
#include "glue.h"

#include <c10/cuda/CUDAStream.h>

namespace smg_fast {
namespace cuda {

cudaStream_t current_stream(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}

}  // namespace cuda
}  // namespace smg_fast
