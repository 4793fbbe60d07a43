// Counting operator new for the allocation benchmark (bench/run 10): linked
// into groupwatch only with -DGW_ALLOC_COUNT=ON. Every replaceable global
// allocation function counts once; with GW_ALLOC_REPORT set the total is
// printed to stderr at exit as "allocations=N". The C allocation functions
// are counted too, for every library in the process (OpenSSL, Asio's
// coroutine frames, which do not go through operator new): "heap=N", which
// includes operator new's own calls. valloc and pvalloc are not counted.
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace {

std::atomic<unsigned long long> g_count{0};
std::atomic<unsigned long long> g_heap{0};

// With GW_ALLOC_SIZES set, also how many allocations of each size (in 16-byte
// steps up to 4 KiB, the rest in the last bucket): what a poll allocates.
constexpr std::size_t kBuckets = 257;
std::atomic<unsigned long long> g_sizes[kBuckets];

void count(std::size_t n) {
  g_count.fetch_add(1, std::memory_order_relaxed);
  g_sizes[n / 16 < kBuckets - 1 ? n / 16 : kBuckets - 1].fetch_add(1, std::memory_order_relaxed);
}

void* counted(std::size_t n) {
  count(n);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

void* counted_aligned(std::size_t n, std::align_val_t a) {
  count(n);
  const auto align = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
  throw std::bad_alloc();
}

struct Report {
  ~Report() {
    if (std::getenv("GW_ALLOC_REPORT"))
      std::fprintf(stderr, "allocations=%llu heap=%llu\n", g_count.load(), g_heap.load());
    if (!std::getenv("GW_ALLOC_SIZES")) return;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      if (auto c = g_sizes[i].load())
        std::fprintf(stderr, "allocations of %zu-%zu bytes: %llu\n", i * 16, i * 16 + 15, c);
    }
  }
} report;

}  // namespace

// glibc's own entry points: the functions below take the place of malloc and
// its kin in every library (symbol interposition) and count each call.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t n) {
  g_heap.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  g_heap.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  g_heap.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void* memalign(std::size_t align, std::size_t n) {
  g_heap.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, n);
}
void* aligned_alloc(std::size_t align, std::size_t n) {
  return memalign(align, n);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  void* p = memalign(align, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
}

void* operator new(std::size_t n) {
  return counted(n);
}
void* operator new[](std::size_t n) {
  return counted(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return counted_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted_aligned(n, a);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
