// Kernels of the per-sample convolution (condcomp_lib/ops/per_sample_kernel.py).
//
// With one kernel per sample, the convolution of sample b is the matrix product
// W_b [C_out, C_in*k*k] @ cols_b [C_in*k*k, H_out*W_out]; cuBLAS does all B products in one
// batched call. These two kernels build the column matrices (im2col) and fold their gradient
// back onto the input (col2im). Sizes are int arguments: one compilation per dtype.

#include <cuda_bf16.h>

template <typename T> struct Acc { typedef T type; };
template <> struct Acc<__nv_bfloat16> { typedef float type; };

template <typename T> __device__ __forceinline__ typename Acc<T>::type widen(T v) { return v; }
template <> __device__ __forceinline__ float widen(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T narrow(typename Acc<T>::type v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 narrow(float v) { return __float2bfloat16(v); }

#define GRID_STRIDE(i, n) \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
         i += (long long)gridDim.x * blockDim.x)

// cols [B, C*kh*kw, H_out*W_out] <- x [B, C, H, W]; row (c, i, j) of sample b holds, for every
// output pixel, the input pixel that kernel tap (i, j) of channel c reads (0 in the padding).
template <typename T>
__global__ void im2col(const T* x, int batch, int channels, int height, int width, int kh,
                       int kw, int stride_h, int stride_w, int pad_h, int pad_w, int h_out,
                       int w_out, T* cols)
{
    GRID_STRIDE(i, (long long)batch * channels * kh * kw * h_out * w_out) {
        const int ox = i % w_out, oy = (i / w_out) % h_out;
        const long long rest = i / ((long long)w_out * h_out);        // (b, c, ti, tj)
        const int tj = rest % kw, ti = (rest / kw) % kh, c = (rest / ((long long)kw * kh)) % channels;
        const long long b = rest / ((long long)kw * kh * channels);
        const int row = oy * stride_h - pad_h + ti, col = ox * stride_w - pad_w + tj;
        const bool inside = row >= 0 && row < height && col >= 0 && col < width;
        cols[i] = inside ? x[((b * channels + c) * height + row) * width + col] : narrow<T>(0);
    }
}

// grad_x [B, C, H, W] <- grad_cols [B, C*kh*kw, H_out*W_out]: each input pixel gathers the
// entries of every (tap, output pixel) that read it. A gather, not a scatter: no atomics, and
// the sum is deterministic.
template <typename T>
__global__ void col2im(const T* grad_cols, int batch, int channels, int height, int width,
                       int kh, int kw, int stride_h, int stride_w, int pad_h, int pad_w,
                       int h_out, int w_out, T* grad_x)
{
    typedef typename Acc<T>::type A;
    GRID_STRIDE(i, (long long)batch * channels * height * width) {
        const int col = i % width, row = (i / width) % height;
        const long long bc = i / ((long long)width * height);         // b * channels + c
        A sum = 0;
        for (int ti = 0; ti < kh; ++ti) {
            const int ry = row + pad_h - ti;                          // = oy * stride_h
            if (ry < 0 || ry % stride_h) continue;
            const int oy = ry / stride_h;
            if (oy >= h_out) continue;
            for (int tj = 0; tj < kw; ++tj) {
                const int rx = col + pad_w - tj;
                if (rx < 0 || rx % stride_w) continue;
                const int ox = rx / stride_w;
                if (ox >= w_out) continue;
                sum += widen(grad_cols[((bc * kh + ti) * kw + tj) * h_out * w_out
                                       + (long long)oy * w_out + ox]);
            }
        }
        grad_x[i] = narrow<T>(sum);
    }
}
