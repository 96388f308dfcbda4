// Routing kernels of the routed convolution (condcomp_lib/ops/routed_kernel.py).
//
// These kernels move data; they do not multiply. The heavy part of a routed convolution is an
// ordinary dense convolution on the compacted work, which cuDNN does better than a hand kernel
// could (see routed_kernel.py for the argument). Here:
//
//   compact_items        route bits -> list of active items (sample, tile) per column
//   init_output          y = bias where the route is on, exactly 0 where it is off
//   gather_patches       x -> stack of the items' input patches (halo and zero padding)
//   scatter_tiles_add    stack of output tiles -> y (+=, so (input, output) pairs can sum)
//   gather_tiles         dL/dy -> stack of the items' output tiles
//   scatter_patches_add  stack of patch gradients -> dL/dx (atomicAdd: halos overlap)
//   bias_grad            dL/dbias summed over the active outputs only
//
// Sizes are int arguments, so one compilation per dtype serves every shape. An item is an
// integer e = b * tiles + t, t = ty * Tw + tx (channel routing: one tile, t = 0).
// Tensors are contiguous, NCHW.

#include <cuda_bf16.h>

// Sums are kept in float for bfloat16, in the tensor's type otherwise.
template <typename T> struct Acc { typedef T type; };
template <> struct Acc<__nv_bfloat16> { typedef float type; };

template <typename T> __device__ __forceinline__ typename Acc<T>::type widen(T v) { return v; }
template <> __device__ __forceinline__ float widen(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T narrow(typename Acc<T>::type v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 narrow(float v) { return __float2bfloat16(v); }

#define GRID_STRIDE(i, n) \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
         i += (long long)gridDim.x * blockDim.x)

// One block per column p of mask [B, columns, tiles]. Writes the active items of column p, in
// increasing order, to items[p * B * tiles ...] and their number to counts[p]. A block-wide
// prefix count (warp ballots, then the warps' totals) gives each active item its slot.
extern "C" __global__ void compact_items(const bool* mask, int batch, int columns, int tiles,
                                         int* items, int* counts)
{
    __shared__ int warp_total[32];
    const int p = blockIdx.x, n = batch * tiles;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    int base = 0;   // items of this column found so far (the same in every thread)
    for (int start = 0; start < n; start += blockDim.x) {
        const int e = start + threadIdx.x;
        const bool on = e < n && mask[((long long)(e / tiles) * columns + p) * tiles + e % tiles];
        const unsigned votes = __ballot_sync(0xffffffffu, on);
        if (lane == 0) warp_total[warp] = __popc(votes);
        __syncthreads();
        int before = 0, total = 0;
        for (int w = 0; w < warps; ++w) {
            before += w < warp ? warp_total[w] : 0;
            total += warp_total[w];
        }
        if (on) items[(long long)p * n + base + before + __popc(votes & ((1u << lane) - 1u))] = e;
        base += total;
        __syncthreads();   // warp_total is rewritten by the next round
    }
    if (threadIdx.x == 0) counts[p] = base;
}

// y [B, C_out, H_out, W_out] = bias[c] where route [B, G, Th, Tw] is on, 0 where it is off.
template <typename T>
__global__ void init_output(T* y, const bool* route, const T* bias, int has_bias, int batch,
                            int c_out, int groups, int h_out, int w_out, int th, int tw)
{
    const int tiles_h = h_out / th, tiles_w = w_out / tw, per_group = c_out / groups;
    GRID_STRIDE(i, (long long)batch * c_out * h_out * w_out) {
        const int w = i % w_out, h = (i / w_out) % h_out;
        const int c = (i / ((long long)w_out * h_out)) % c_out;
        const long long b = i / ((long long)w_out * h_out * c_out);
        const bool on = route[((b * groups + c / per_group) * tiles_h + h / th) * tiles_w + w / tw];
        y[i] = (on && has_bias) ? bias[c] : narrow<T>(0);
    }
}

// patches [n, c_sel, ph, pw] <- x [B, C, H, W]: item r's patch starts at input row
// ty * step_h - pad_h and column tx * step_w - pad_w, channels c0 .. c0 + c_sel - 1;
// pixels outside the input are the convolution's zero padding.
template <typename T>
__global__ void gather_patches(const T* x, const int* items, int n, int tiles, int tiles_w,
                               int channels, int height, int width, int c0, int c_sel, int ph,
                               int pw, int step_h, int step_w, int pad_h, int pad_w, T* patches)
{
    GRID_STRIDE(i, (long long)n * c_sel * ph * pw) {
        const int u = i % pw, v = (i / pw) % ph, c = (i / ((long long)pw * ph)) % c_sel;
        const int e = items[i / ((long long)pw * ph * c_sel)];
        const int b = e / tiles, t = e % tiles;
        const int row = (t / tiles_w) * step_h - pad_h + v, col = (t % tiles_w) * step_w - pad_w + u;
        const bool inside = row >= 0 && row < height && col >= 0 && col < width;
        patches[i] = inside ? x[(((long long)b * channels + c0 + c) * height + row) * width + col]
                            : narrow<T>(0);
    }
}

// y [B, C_out, H_out, W_out] += tiles_in [n, cg, th, tw] at item r's tile, channels c0...
// Items are distinct, so no two threads of a launch write the same element; launches on one
// stream run in order, so (input group, output group) pairs can add into the same output.
template <typename T>
__global__ void scatter_tiles_add(const T* tiles_in, const int* items, int n, int tiles,
                                  int tiles_w, int c_out, int c0, int cg, int th, int tw,
                                  int h_out, int w_out, T* y)
{
    GRID_STRIDE(i, (long long)n * cg * th * tw) {
        const int u = i % tw, v = (i / tw) % th, c = (i / ((long long)tw * th)) % cg;
        const int e = items[i / ((long long)tw * th * cg)];
        const int b = e / tiles, t = e % tiles;
        const long long o = (((long long)b * c_out + c0 + c) * h_out + (t / tiles_w) * th + v)
                            * w_out + (t % tiles_w) * tw + u;
        y[o] = narrow<T>(widen(y[o]) + widen(tiles_in[i]));
    }
}

// tiles_out [n, cg, th, tw] <- grad_y [B, C_out, H_out, W_out] (the inverse of the scatter).
template <typename T>
__global__ void gather_tiles(const T* grad_y, const int* items, int n, int tiles, int tiles_w,
                             int c_out, int c0, int cg, int th, int tw, int h_out, int w_out,
                             T* tiles_out)
{
    GRID_STRIDE(i, (long long)n * cg * th * tw) {
        const int u = i % tw, v = (i / tw) % th, c = (i / ((long long)tw * th)) % cg;
        const int e = items[i / ((long long)tw * th * cg)];
        const int b = e / tiles, t = e % tiles;
        tiles_out[i] = grad_y[(((long long)b * c_out + c0 + c) * h_out + (t / tiles_w) * th + v)
                              * w_out + (t % tiles_w) * tw + u];
    }
}

// grad_x [B, C, H, W] (accumulation type) += patch gradients [n, c_sel, ph, pw]. Neighbouring
// tiles' halos overlap, hence atomicAdd; padding positions are dropped.
template <typename T>
__global__ void scatter_patches_add(const T* grad_patches, const int* items, int n, int tiles,
                                    int tiles_w, int channels, int height, int width, int c0,
                                    int c_sel, int ph, int pw, int step_h, int step_w,
                                    int pad_h, int pad_w, typename Acc<T>::type* grad_x)
{
    GRID_STRIDE(i, (long long)n * c_sel * ph * pw) {
        const int u = i % pw, v = (i / pw) % ph, c = (i / ((long long)pw * ph)) % c_sel;
        const int e = items[i / ((long long)pw * ph * c_sel)];
        const int b = e / tiles, t = e % tiles;
        const int row = (t / tiles_w) * step_h - pad_h + v, col = (t % tiles_w) * step_w - pad_w + u;
        if (row >= 0 && row < height && col >= 0 && col < width)
            atomicAdd(&grad_x[(((long long)b * channels + c0 + c) * height + row) * width + col],
                      widen(grad_patches[i]));
    }
}

// grad_bias[c] = sum of grad_y[b, c, h, w] over the outputs whose route bit is on.
// One block per channel; a shared-memory tree sums the threads' partial sums.
template <typename T>
__global__ void bias_grad(const T* grad_y, const bool* route, int batch, int c_out, int groups,
                          int h_out, int w_out, int th, int tw, typename Acc<T>::type* grad_bias)
{
    typedef typename Acc<T>::type A;
    __shared__ A partial[256];
    const int c = blockIdx.x, g = c / (c_out / groups);
    const int tiles_h = h_out / th, tiles_w = w_out / tw, pixels = h_out * w_out;
    A sum = 0;
    for (long long i = threadIdx.x; i < (long long)batch * pixels; i += blockDim.x) {
        const int b = i / pixels, h = (i % pixels) / w_out, w = i % w_out;
        if (route[(((long long)b * groups + g) * tiles_h + h / th) * tiles_w + w / tw])
            sum += widen(grad_y[((long long)b * c_out + c) * pixels + i % pixels]);
    }
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) grad_bias[c] = partial[0];
}
