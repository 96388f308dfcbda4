// What every CUDA source of condcomp_lib.ops shares. cuda.py pastes this file in place of its
// #include line before compiling, so a change here reaches every kernel and CuPy's compile cache
// (keyed by the source text) never serves a binary built from an older header.
//
// Conventions of the kernels:
//  * Tensors are contiguous. Sizes are int arguments, so one compilation per dtype serves every
//    shape; the Python side checks that every size fits in 32 bits.
//  * A data-movement kernel walks planes (one channel of one image or tile): grid x picks the
//    item, grid y and block z the channel, block (x, y) the pixels. Indices come from the
//    thread and block coordinates, so no integer division runs per element; only a plane's
//    base offset is 64-bit.
//  * A parameter named *_or_null may be a null pointer; no other may.

#include <cuda_bf16.h>

// Sums are kept in float for bfloat16, in the tensor's type otherwise.
template <typename T> struct Acc { typedef T type; };
template <> struct Acc<__nv_bfloat16> { typedef float type; };

template <typename T> __device__ __forceinline__ typename Acc<T>::type widen(T v) { return v; }
template <> __device__ __forceinline__ float widen(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T narrow(typename Acc<T>::type v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 narrow(float v) { return __float2bfloat16(v); }

// The channels c = 0 .. count - 1 this thread handles (grid y and block z).
#define FOR_CHANNELS(c, count) \
    for (int c = blockIdx.y * blockDim.z + threadIdx.z; c < (count); c += gridDim.y * blockDim.z)

// The pixels (v, u) of a height x width plane this thread handles (block x and y).
#define FOR_PIXELS(v, height, u, width) \
    for (int v = threadIdx.y; v < (height); v += blockDim.y) \
        for (int u = threadIdx.x; u < (width); u += blockDim.x)
