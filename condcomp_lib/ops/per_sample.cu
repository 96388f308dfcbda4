// Kernels of the per-sample convolution (condcomp_lib/ops/per_sample_kernel.py).
//
// With one kernel per sample, the convolution of sample b is the matrix product
// W_b [C_out, C_in*k*k] @ cols_b [C_in*k*k, H_out*W_out]; cuBLAS does all B products in one
// batched call. These two kernels build the column matrices (im2col) and fold their gradient
// back onto the input (col2im). Grid x walks the B*C input planes; see common.cuh.

#include "common.cuh"

// cols [B, C*kh*kw, H_out*W_out] <- x [B, C, H, W]; row (c, i, j) of sample b holds, for every
// output pixel, the input pixel that kernel tap (i, j) of channel c reads (0 in the padding).
// Grid (B*C, kh, kw): one plane and one tap per block, so the tap needs no division.
template <typename T>
__global__ void im2col(const T* x, int height, int width, int kh, int kw, int stride_h,
                       int stride_w, int pad_h, int pad_w, int h_out, int w_out, T* cols)
{
    const long long bc = blockIdx.x;                       // b * C + c
    const int ti = blockIdx.y, tj = blockIdx.z;
    const T* plane = x + bc * height * width;
    T* out = cols + ((bc * kh + ti) * kw + tj) * h_out * w_out;
    FOR_PIXELS(oy, h_out, ox, w_out) {
        const int row = oy * stride_h - pad_h + ti, col = ox * stride_w - pad_w + tj;
        const bool inside = row >= 0 && row < height && col >= 0 && col < width;
        out[oy * w_out + ox] = inside ? plane[row * width + col] : narrow<T>(0);
    }
}

// The first output position whose window (start o * stride, k taps) covers padded position r.
__device__ __forceinline__ int first_window(int r, int k, int stride)
{
    if (r < k) return 0;
    return stride == 1 ? r - k + 1 : (r - k) / stride + 1;
}

// The last output position (of n) whose window covers padded position r.
__device__ __forceinline__ int last_window(int r, int stride, int n)
{
    const int o = stride == 1 ? r : r / stride;
    return o < n - 1 ? o : n - 1;
}

// grad_x [B, C, H, W] <- grad_cols [B, C*kh*kw, H_out*W_out]: each input pixel gathers the
// entries of every (output pixel, tap) that read it. A gather, not a scatter: no atomics, and
// the sum is deterministic. Grid x: one input plane per block.
template <typename T>
__global__ void col2im(const T* grad_cols, int height, int width, int kh, int kw, int stride_h,
                       int stride_w, int pad_h, int pad_w, int h_out, int w_out, T* grad_x)
{
    typedef typename Acc<T>::type A;
    const long long bc = blockIdx.x;
    const int pixels_out = h_out * w_out;
    const T* cols = grad_cols + bc * kh * kw * pixels_out;
    T* out = grad_x + bc * height * width;
    FOR_PIXELS(row, height, col, width) {
        const int ry = row + pad_h, rx = col + pad_w;   // in the padded input
        const int oy1 = last_window(ry, stride_h, h_out), ox1 = last_window(rx, stride_w, w_out);
        A sum = 0;
        for (int oy = first_window(ry, kh, stride_h); oy <= oy1; ++oy)
            for (int ox = first_window(rx, kw, stride_w); ox <= ox1; ++ox) {
                const int tap = (ry - oy * stride_h) * kw + (rx - ox * stride_w);
                sum += widen(cols[(long long)tap * pixels_out + oy * w_out + ox]);
            }
        out[row * width + col] = narrow<T>(sum);
    }
}
