/*
 * fiber.c - cooperative fibers (core/fiber.h).
 *
 * On x86-64 a switch is a few instructions of our own (ctx_switch below):
 * glibc's swapcontext also saves and restores the signal mask, a system
 * call each way, which on a virtual machine costs more than the rest of
 * the switch, and nothing here ever changes the mask.  Elsewhere the
 * fibers use ucontext.
 *
 * Each fiber has a stack of its own, mapped with a guard page below it so
 * an overflow faults instead of corrupting memory.  Stacks of finished
 * fibers are kept per thread for the next one: mapping a stack costs more
 * than a request.
 *
 * AddressSanitizer keeps a shadow of each stack; it is told about every
 * switch (__sanitizer_start/finish_switch_fiber) so that it checks the
 * stack actually in use.
 *
 * Must not know about HTTP, the database or any event loop in particular.
 */
#include "core/fiber.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include "core/xmalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define LY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LY_ASAN 1
#endif
#endif
#ifdef LY_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

/* Handlers, libpq and jansson's dump are shallow; ASan's redzones triple a
 * frame.  Untouched pages of the mapping cost no memory. */
#define STACK_SIZE  (512u * 1024u)
#define CACHE_LIMIT 64

/* --- the switch itself ------------------------------------------------ */

#if defined(__x86_64__)
/* A context that is not running: its stack pointer, with the six
 * callee-saved registers of the System V ABI pushed below its return
 * address.  The MXCSR and x87 control words are callee-saved too; nothing
 * in the daemon changes them, so they are left alone. */
struct ctx {
    void *sp;
};

void ly_ctx_switch(void **save_sp, void *load_sp);
__asm__(".text\n"
        ".globl ly_ctx_switch\n"
        ".hidden ly_ctx_switch\n"
        ".type ly_ctx_switch, @function\n"
        "ly_ctx_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size ly_ctx_switch, .-ly_ctx_switch\n");

static void ctx_switch(struct ctx *from, const struct ctx *to)
{
    ly_ctx_switch(&from->sp, to->sp);
}

/* A context that starts `entry` on the stack [base, base + size): a
 * return address to `entry` and six zero registers, laid out so that
 * `entry` starts with the stack aligned as after a call. */
static void ctx_make(struct ctx *c, void *base, size_t size, void (*entry)(void))
{
    uintptr_t top = ((uintptr_t)base + size) & ~(uintptr_t)15;
    void **sp = (void **)top;

    *--sp = NULL; /* where `entry` would return to: it never does */
    *--sp = (void *)(uintptr_t)entry;
    for (int i = 0; i < 6; i++)
        *--sp = NULL;
    c->sp = sp;
}
#else
struct ctx {
    ucontext_t uc;
};

static void ctx_switch(struct ctx *from, const struct ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}

static void ctx_make(struct ctx *c, void *base, size_t size, void (*entry)(void))
{
    if (getcontext(&c->uc) != 0)
        ly_assert_fail("getcontext failed", __FILE__, __LINE__);
    c->uc.uc_stack.ss_sp = base;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL; /* entry never returns */
    makecontext(&c->uc, entry, 0);
}
#endif

struct fiber {
    struct ctx ctx;
    struct ctx caller;
    void *map; /* guard page + stack */
    size_t map_size;
    fiber_fn fn;
    void *arg;
    bool done;
    struct fiber *next; /* in the woken queue or the cache */
#ifdef LY_ASAN
    void *fake_stack;
    const void *caller_bottom;
    size_t caller_size;
#endif
};

struct thread_fibers {
    struct fiber *current;
    struct fiber *woken_head, *woken_tail;
    struct fiber *cache;
    int ncached;
    const struct fiber_watcher *watcher;
};

static _Thread_local struct thread_fibers tf;

static size_t page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);

    return n > 0 ? (size_t)n : 4096u;
}

/* --- switching, with AddressSanitizer told where the stack goes -------- */

/* Called on the fiber's stack right after every switch into it. */
static void arrived_in_fiber(struct fiber *f)
{
#ifdef LY_ASAN
    __sanitizer_finish_switch_fiber(f->fake_stack, &f->caller_bottom, &f->caller_size);
#else
    (void)f;
#endif
}

/* From the fiber back to the thread's own stack; `final` when the fiber
 * will never run again (its fake stack can go). */
static void leave_fiber(struct fiber *f, bool final)
{
#ifdef LY_ASAN
    __sanitizer_start_switch_fiber(final ? NULL : &f->fake_stack, f->caller_bottom, f->caller_size);
#else
    (void) final;
#endif
    ctx_switch(&f->ctx, &f->caller);
}

static void trampoline(void)
{
    struct fiber *f = tf.current;

    arrived_in_fiber(f);
    f->fn(f->arg);
    f->done = true;
    leave_fiber(f, true);
}

bool fiber_switch(struct fiber *f)
{
#ifdef LY_ASAN
    void *fake = NULL;
    size_t guard = page_size();

    __sanitizer_start_switch_fiber(&fake, (char *)f->map + guard, f->map_size - guard);
#endif
    ly_assert(tf.current == NULL);
    tf.current = f;
    ctx_switch(&f->caller, &f->ctx);
    tf.current = NULL;
#ifdef LY_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    if (!f->done)
        return false;
    if (tf.ncached < CACHE_LIMIT) {
        f->next = tf.cache;
        tf.cache = f;
        tf.ncached++;
    } else {
        munmap(f->map, f->map_size);
        free(f);
    }
    return true;
}

/* --- making fibers ------------------------------------------------------ */

struct fiber *fiber_new(fiber_fn fn, void *arg)
{
    struct fiber *f = tf.cache;
    size_t guard = page_size();

    if (f != NULL) {
        tf.cache = f->next;
        tf.ncached--;
    } else {
        f = xcalloc(1, sizeof(*f));
        f->map_size = guard + STACK_SIZE;
        f->map =
            mmap(NULL, f->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (f->map == MAP_FAILED || mprotect(f->map, guard, PROT_NONE) != 0)
            ly_assert_fail("cannot map a fiber stack", __FILE__, __LINE__);
    }
    f->fn = fn;
    f->arg = arg;
    f->done = false;
    f->next = NULL;
    ctx_make(&f->ctx, (char *)f->map + guard, f->map_size - guard, trampoline);
    return f;
}

struct fiber *fiber_self(void)
{
    return tf.current;
}

void fiber_sleep(void)
{
    struct fiber *f = tf.current;

    ly_assert(f != NULL);
    leave_fiber(f, false);
    arrived_in_fiber(f);
}

/* --- waking ------------------------------------------------------------- */

void fiber_wake(struct fiber *f)
{
    f->next = NULL;
    if (tf.woken_tail != NULL)
        tf.woken_tail->next = f;
    else
        tf.woken_head = f;
    tf.woken_tail = f;
}

void fiber_run_woken(void)
{
    struct fiber *f;

    while ((f = tf.woken_head) != NULL) {
        tf.woken_head = f->next;
        if (tf.woken_head == NULL)
            tf.woken_tail = NULL;
        fiber_switch(f);
    }
}

/* --- waiting for descriptors ------------------------------------------- */

void fiber_set_watcher(const struct fiber_watcher *w)
{
    tf.watcher = w;
}

int fiber_wait_fd(int fd, bool want_write)
{
    struct pollfd p = {.fd = fd, .events = want_write ? POLLOUT : POLLIN};
    int rc;

    if (tf.current != NULL && tf.watcher != NULL &&
        tf.watcher->watch(fd, want_write, tf.current) == 0) {
        fiber_sleep();
        return 0;
    }
    do
        rc = poll(&p, 1, -1);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -1 : 0;
}

void fiber_forget_fd(int fd)
{
    if (tf.watcher != NULL && fd >= 0)
        tf.watcher->forget(fd);
}

void fiber_thread_end(void)
{
    struct fiber *f;

    while ((f = tf.cache) != NULL) {
        tf.cache = f->next;
        munmap(f->map, f->map_size);
        free(f);
    }
    tf.ncached = 0;
}
