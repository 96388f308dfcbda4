// Routing kernels of the routed convolution (condcomp_lib/ops/routed_kernel.py).
//
// These kernels move data; they do not multiply. The heavy part of a routed convolution is an
// ordinary dense convolution on the compacted work, which cuDNN does better than a hand kernel
// could (see routed_kernel.py for the argument). Here:
//
//   unpack_items     a sort's flat indices -> the item table (below)
//   fill_tiles       y at the items' tiles = bias (or 0): the outputs that read no input
//   gather_patches   x -> stack of the items' input patches (halo and zero padding)
//   scatter_tiles    stack of output tiles -> y (=, or += where input-group pairs are summed)
//   gather_tiles     dL/dy -> stack of the items' output tiles
//   scatter_patches  stack of patch gradients -> the items' slots of a gradient buffer (+=)
//
// An item is a row (b, j, ty, tx) of an int32 table [n, 4]: sample b, output group j, tile
// (ty, tx); with channel routing there is one tile, (0, 0). The items of one launch are
// distinct, so no two threads write one element: no atomics, and every sum is deterministic.

#include "common.cuh"

// items [n, 4] <- flat indices f into a [B, slots, tiles] mask, f = (b * slots + s) * tiles + t,
// with slot s = i * groups + j (input group i, output group j). Runs once per forward.
extern "C" __global__ void unpack_items(const long long* flat, int n, int slots, int groups,
                                        int tiles, int tiles_w, int* items)
{
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < n; r += gridDim.x * blockDim.x) {
        const long long f = flat[r];
        const int t = (int)(f % tiles), s = (int)((f / tiles) % slots);
        items[4 * r] = (int)(f / ((long long)tiles * slots));
        items[4 * r + 1] = s % groups;
        items[4 * r + 2] = t / tiles_w;
        items[4 * r + 3] = t % tiles_w;
    }
}

// y [B, C_out, H_out, W_out] at item r's th x tw tile, channels j * cg ... j * cg + cg - 1:
// bias[channel], or exact zeros when there is no bias. Grid x: one item per column.
template <typename T>
__global__ void fill_tiles(const int* items, int c_out, int cg, int th, int tw, int h_out,
                           int w_out, const T* bias_or_null, T* y)
{
    const int* item = items + 4 * blockIdx.x;
    const int b = item[0], j = item[1], row0 = item[2] * th, col0 = item[3] * tw;
    FOR_CHANNELS(c, cg) {
        const int channel = j * cg + c;
        const T value = bias_or_null ? bias_or_null[channel] : narrow<T>(0);
        T* plane = y + ((long long)b * c_out + channel) * h_out * w_out;
        FOR_PIXELS(v, th, u, tw)
            plane[(row0 + v) * w_out + col0 + u] = value;
    }
}

// patches [n, c_sel, ph, pw] <- x [B, C, H, W]: item r's patch starts at input row
// ty * step_h - pad_h and column tx * step_w - pad_w; its channels are chans_or_null[0 ..
// c_sel - 1], or c0 ... c0 + c_sel - 1 without a list. Pixels outside the input are the
// convolution's zero padding.
template <typename T>
__global__ void gather_patches(const T* x, const int* items, int channels, int height, int width,
                               const int* chans_or_null, int c0, int c_sel, int ph, int pw,
                               int step_h, int step_w, int pad_h, int pad_w, T* patches)
{
    const int* item = items + 4 * blockIdx.x;
    const int b = item[0], row0 = item[2] * step_h - pad_h, col0 = item[3] * step_w - pad_w;
    FOR_CHANNELS(c, c_sel) {
        const int channel = chans_or_null ? chans_or_null[c] : c0 + c;
        const T* plane = x + ((long long)b * channels + channel) * height * width;
        T* out = patches + ((long long)blockIdx.x * c_sel + c) * ph * pw;
        FOR_PIXELS(v, ph, u, pw) {
            const int row = row0 + v, col = col0 + u;
            const bool inside = row >= 0 && row < height && col >= 0 && col < width;
            out[v * pw + u] = inside ? plane[row * width + col] : narrow<T>(0);
        }
    }
}

// y [B, C_out, H_out, W_out] at item r's tile, channels j * cg ... <- tiles_in [n, cg, th, tw]:
// written (the unit's first and only write) or added (input-group pairs summed in turn;
// launches on one stream run in order).
template <typename T>
__global__ void scatter_tiles(const T* tiles_in, const int* items, int c_out, int cg, int th,
                              int tw, int h_out, int w_out, int accumulate, T* y)
{
    const int* item = items + 4 * blockIdx.x;
    const int b = item[0], j = item[1], row0 = item[2] * th, col0 = item[3] * tw;
    FOR_CHANNELS(c, cg) {
        const T* in = tiles_in + ((long long)blockIdx.x * cg + c) * th * tw;
        T* plane = y + ((long long)b * c_out + j * cg + c) * h_out * w_out;
        FOR_PIXELS(v, th, u, tw) {
            T* o = plane + (row0 + v) * w_out + col0 + u;
            *o = accumulate ? narrow<T>(widen(*o) + widen(in[v * tw + u])) : in[v * tw + u];
        }
    }
}

// tiles_out [n, cg, th, tw] <- grad_y [B, C_out, H_out, W_out] (the inverse of the scatter).
template <typename T>
__global__ void gather_tiles(const T* grad_y, const int* items, int c_out, int cg, int th,
                             int tw, int h_out, int w_out, T* tiles_out)
{
    const int* item = items + 4 * blockIdx.x;
    const int b = item[0], j = item[1], row0 = item[2] * th, col0 = item[3] * tw;
    FOR_CHANNELS(c, cg) {
        const T* plane = grad_y + ((long long)b * c_out + j * cg + c) * h_out * w_out;
        T* out = tiles_out + ((long long)blockIdx.x * cg + c) * th * tw;
        FOR_PIXELS(v, th, u, tw)
            out[v * tw + u] = plane[(row0 + v) * w_out + col0 + u];
    }
}

// grads [B * Th * Tw, channels, ph, pw] (accumulation type) += grad_patches [n, c_sel, ph, pw]
// at item r's slot (b * Th + ty) * Tw + tx, channels as in gather_patches. With tiles the
// buffer holds every tile's patch gradient and F.fold sums the overlapping halos afterwards
// (a gather, so deterministic); with channel routing Th = Tw = 1 and a patch is the whole
// image, so the buffer is dL/dx itself.
template <typename T>
__global__ void scatter_patches(const T* grad_patches, const int* items, int tiles_h,
                                int tiles_w, int channels, const int* chans_or_null, int c0,
                                int c_sel, int ph, int pw, typename Acc<T>::type* grads)
{
    const int* item = items + 4 * blockIdx.x;
    const long long slot = ((long long)item[0] * tiles_h + item[2]) * tiles_w + item[3];
    FOR_CHANNELS(c, c_sel) {
        const int channel = chans_or_null ? chans_or_null[c] : c0 + c;
        const T* in = grad_patches + ((long long)blockIdx.x * c_sel + c) * ph * pw;
        typename Acc<T>::type* out = grads + (slot * channels + channel) * ph * pw;
        FOR_PIXELS(v, ph, u, pw)
            out[v * pw + u] += widen(in[v * pw + u]);
    }
}
