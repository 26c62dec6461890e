/* SPDX-License-Identifier: MIT */
/*
 * hotpatch.h -- the public API of libhotpatch, and its authoritative document.
 *
 * If a function, type or constant is not in this file, it is not part of
 * the API. Every fallible call returns 0 or a negative error code from
 * HOTPATCH_ERRNO_MAP below; hotpatch_last_error() then says why, in words.
 *
 * Versions with the same major number are ABI stable. API is allowed to
 * evolve between minor releases, but only in a backwards compatible way.
 * While the major number is 0, minor releases may break the ABI.
 */
#ifndef HOTPATCH_H
#define HOTPATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HOTPATCH_VERSION_MAJOR 0
#define HOTPATCH_VERSION_MINOR 1
#define HOTPATCH_VERSION_PATCH 0
#define HOTPATCH_VERSION_HEX                                                   \
  ((HOTPATCH_VERSION_MAJOR << 16) | (HOTPATCH_VERSION_MINOR << 8) |            \
   (HOTPATCH_VERSION_PATCH))

#if defined(__GNUC__)
#define HOTPATCH_API __attribute__((visibility("default")))
#else
#define HOTPATCH_API
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Every error code, with its message. Codes that fit an errno are that errno
 * negated (HOTPATCH_EINVAL == -EINVAL on Linux); codes for failures peculiar
 * to patching live in the reserved range -4000..-4099.
 *
 * The lifecycle codes are part of the contract:
 *   -ENOENT      no such patch; no such symbol in the named object
 *   -EEXIST      a patch with that name is already loaded
 *   -EINVAL      malformed descriptor or argument
 *   -EINVAL      ... also: unload of an APPLIED patch, a state version
 *                conflict, re-apply of a reverted patch without
 *                HOTPATCH_REAPPLYABLE
 *   -EBUSY       another action is in progress (or the call comes from a
 *                hook); revert of a patch that is not the newest applied;
 *                a thread stayed in the way until the deadline
 *   -EOPNOTSUPP  the request is valid but not supported in this situation
 *                (replace with a patch that has pre/post hooks)
 *   -EAGAIN      only as hotpatch_rc() while an action on the patch runs
 * A vetoing hook's non-zero return value is passed back verbatim.
 */
#define HOTPATCH_ERRNO_MAP(XX)                                                 \
  HOTPATCH_SYS_ERRNO_MAP_(XX) HOTPATCH_OWN_ERRNO_MAP_(XX)

/* Codes that are errno values negated (checked against <errno.h>). */
#define HOTPATCH_SYS_ERRNO_MAP_(XX)                                            \
  XX(ENOENT, -2, "no such patch, object or symbol")                            \
  XX(EIO, -5, "input/output error")                                            \
  XX(EAGAIN, -11, "an action on this patch is in progress")                    \
  XX(ENOMEM, -12, "out of memory")                                             \
  XX(EACCES, -13, "permission denied")                                         \
  XX(EBUSY, -16, "busy: another action is in progress or the patch is in use") \
  XX(EEXIST, -17, "a patch with this name is already loaded")                  \
  XX(EINVAL, -22, "invalid argument")                                          \
  XX(EOPNOTSUPP, -95, "operation not supported")

/* Codes of failures peculiar to patching. */
#define HOTPATCH_OWN_ERRNO_MAP_(XX)                                            \
  XX(ENOTELF, -4000, "not an ELF file")                                        \
  XX(EBADELF, -4001, "malformed or truncated ELF file")                        \
  XX(EFOREIGN, -4002, "ELF file is for another architecture or type")          \
  XX(EDLOPEN, -4003, "dlopen failed")                                          \
  XX(ENODESC, -4004, "patch has no hotpatch_descriptor")                       \
  XX(EMAGIC, -4005, "descriptor has the wrong magic number")                   \
  XX(EABI, -4006, "descriptor ABI version is not supported")                   \
  XX(ENOOBJ, -4007, "target object is not loaded in this process")             \
  XX(EAMBIGUOUS, -4008, "ambiguous: several functions or objects match")       \
  XX(EBUILDID, -4009, "build-id does not match")                               \
  XX(ESTALEFILE, -4010, "object file on disk is not the one loaded")           \
  XX(EIFUNC, -4011, "target is an IFUNC resolver, not the function")           \
  XX(ENOSIZE, -4012, "target symbol has no size")                              \
  XX(ECLONE, -4013, "target is a compiler-generated fragment or clone")        \
  XX(ENOTCODE, -4014, "target address is not in executable code")              \
  XX(ENOSYMTAB, -4015, "object has no symbol table")                           \
  XX(ETOOSHORT, -4016, "function is too short for the entry jump")             \
  XX(EBRANCHIN, -4017, "a branch lands inside the bytes to be overwritten")    \
  XX(ERELOC, -4018, "instruction cannot be relocated")                         \
  XX(EDECODE, -4019, "instruction cannot be decoded")                          \
  XX(ENONEAR, -4020, "no free memory within jump range of the target")         \
  XX(ECHANGED, -4021, "code at the site is not what was written")              \
  XX(ECODEWRITE, -4022, "code pages cannot be written in this process")        \
  XX(ENOPAD, -4026, "replacement lacks the landing pad its jump needs")

/** Error codes. All are negative; 0 means success. */
enum hotpatch_error {
#define HOTPATCH_XX_(name, value, msg) HOTPATCH_##name = (value),
  HOTPATCH_ERRNO_MAP(HOTPATCH_XX_)
#undef HOTPATCH_XX_
      HOTPATCH_ERRNO_RESERVED_ = -4099
};

/**
 * Static text for an error code. Never NULL: an unknown code, a positive
 * value (e.g. a hook's own return value) or 0 gets a generic text.
 * Thread-safety: safe. Async-signal-safety: safe.
 */
HOTPATCH_API const char *hotpatch_strerror(int err);

/**
 * The symbolic name of an error code ("HOTPATCH_EAMBIGUOUS"), or
 * "HOTPATCH_UNKNOWN" for a code not in HOTPATCH_ERRNO_MAP.
 */
HOTPATCH_API const char *hotpatch_err_name(int err);

/**
 * The detail of the last failed call made by this thread: which file, which
 * symbol, which instruction at which address. Empty ("") when the last
 * fallible call of this thread succeeded; every fallible call clears it on
 * entry. The string is thread-local, owned by the library, and valid until
 * this thread's next call into the library. Never NULL.
 */
HOTPATCH_API const char *hotpatch_last_error(void);

/* ------------------------------------------------------------------------ */
/* Logging and configuration                                                 */
/* ------------------------------------------------------------------------ */

enum hotpatch_log_level {
  HOTPATCH_LOG_ERROR = 1,
  HOTPATCH_LOG_WARN = 2,
  HOTPATCH_LOG_INFO = 3,
  HOTPATCH_LOG_DEBUG = 4
};

/**
 * Route the library's log to `fn` (NULL restores the default: stderr).
 * Messages above the configured level (hotpatch_init, or HOTPATCH_LOG=
 * error|warn|info|debug in the environment; default warn) are not formatted.
 * There is one logger per process. The callback may be called from any
 * thread that calls into the library, must be thread-safe, and must not call
 * any hotpatch_ function. Messages are at most 1023 bytes.
 */
HOTPATCH_API void hotpatch_set_logger(void (*fn)(int level, const char *msg,
                                                 void *arg),
                                      void *arg);

/**
 * Process-wide settings. The library reads the environment variables named
 * beside each field on first use; hotpatch_init() changes the fields that
 * are non-zero and keeps the others.
 */
struct hotpatch_config {
  int log_level;       /* HOTPATCH_LOG_*; 0 = default (HOTPATCH_LOG) */
  int park_signal;     /* real-time signal used to park threads; 0 =
                          default SIGRTMIN+7 (HOTPATCH_SIGNAL=N) */
  uint32_t timeout_ms; /* default action deadline; 0 = 1000 ms
                          (HOTPATCH_TIMEOUT_MS) */
};

/**
 * Apply the non-zero fields of `cfg`; NULL re-reads the environment.
 * Optional: the library configures itself from the environment on first
 * use. Invalid environment values are ignored (the default stays).
 * @retval 0 on success
 * @retval HOTPATCH_EINVAL a field is out of range (a park_signal outside
 *         SIGRTMIN..SIGRTMAX, a log level above debug)
 * @retval HOTPATCH_EBUSY a patch is loaded: settings are fixed from then on
 */
HOTPATCH_API int hotpatch_init(const struct hotpatch_config *cfg);

/** Run-time version, equal to HOTPATCH_VERSION_HEX of the header it was
 *  built with. */
HOTPATCH_API unsigned hotpatch_version(void);
HOTPATCH_API const char *hotpatch_version_string(void);

/* ------------------------------------------------------------------------ */
/* Writing a patch                                                           */
/* ------------------------------------------------------------------------ */

/** hotpatch_func.flags: the target may stay active on other threads' stacks
 *  (old frames finish in old code); only the overwritten bytes must be idle. */
#define HOTPATCH_FUNC_ALLOW_ACTIVE 0x1u

/** One function to replace. Arrays end with an all-zero entry. */
struct hotpatch_func {
  const char *target;   /* symbol name of the function to replace (required);
                           "foo@VER" / "foo@@VER" name a symbol version, a
                           bare "foo" is the default version */
  const char *object;   /* NULL or "" = main executable; else the basename or
                           soname of a loaded shared object, e.g. "libz.so.1" */
  const char *file;     /* optional source file (STT_FILE) to pick one of
                           several static functions with the same name; a
                           path matches by its basename too */
  const char *build_id; /* optional hex NT_GNU_BUILD_ID the object must have */
  void *replacement;    /* the new function (required) */
  void **original;      /* optional: receives a callable pointer to the
                           original code */
  unsigned flags;       /* HOTPATCH_FUNC_* */
};

/** A versioned system state; same meaning as Linux struct klp_state. */
struct hotpatch_state {
  unsigned long id; /* non-zero; an all-zero entry ends the array */
  unsigned int version;
  void *data;
};

/** The opaque runtime handle of a loaded patch. */
typedef struct hotpatch_patch hotpatch_patch;

/*
 * Hooks (the order is under hotpatch_apply below). Pre/post hooks run with
 * every other thread running and the library unlocked: they may allocate,
 * take locks, block, and read the library (hotpatch_status,
 * hotpatch_get_prev_state), but an apply, revert, replace or unload from a
 * hook returns HOTPATCH_EBUSY. Quiesced hooks run while every other thread
 * is parked, possibly inside malloc, stdio or the loader: they must be
 * async-signal-safe (no malloc, no locks, no stdio) and short; they exist
 * to flip state at the same instant as the code.
 */
struct hotpatch_hooks {
  int (*pre_apply)(hotpatch_patch *p); /* may veto: non-zero return */
  void (*post_apply)(hotpatch_patch *p, int rc);
  int (*pre_revert)(hotpatch_patch *p); /* may veto */
  void (*post_revert)(hotpatch_patch *p, int rc);
  void (*quiesced_apply)(hotpatch_patch *p);  /* runs with all threads parked */
  void (*quiesced_revert)(hotpatch_patch *p); /* runs with all threads parked */
};

/** hotpatch_desc.flags */
#define HOTPATCH_REPLACE 0x1u     /* cumulative: replaces every applied patch */
#define HOTPATCH_REAPPLYABLE 0x2u /* may be applied again after a revert */

#define HOTPATCH_MAGIC 0x48504431u /* "HPD1" */
#define HOTPATCH_ABI 1u

/** The descriptor a patch carries. */
struct hotpatch_desc {
  uint32_t magic, abi; /* set by HOTPATCH_DEFINE */
  const char *name;    /* unique among loaded patches, required */
  const char *description;
  const struct hotpatch_func *funcs; /* may be NULL for a hooks-only patch */
  const struct hotpatch_state *states;
  struct hotpatch_hooks hooks;
  unsigned flags; /* HOTPATCH_REPLACE, HOTPATCH_REAPPLYABLE */
  void *user;
};

/**
 * In a patch .so: define the exported descriptor the loader looks for.
 *
 *   HOTPATCH_DEFINE(.name = "fix-cve-2026-1234",
 *                   .funcs = (const struct hotpatch_func[]){
 *                       {.target = "parse_header", .replacement = my_parse},
 *                       {0}});
 *
 * The arguments are designated initialisers of struct hotpatch_desc other
 * than magic and abi. Use it once per patch object, at file scope, in C.
 */
#define HOTPATCH_DEFINE(...)                                                   \
  HOTPATCH_API extern const struct hotpatch_desc hotpatch_descriptor;          \
  const struct hotpatch_desc hotpatch_descriptor = {                           \
      .magic = HOTPATCH_MAGIC, .abi = HOTPATCH_ABI, __VA_ARGS__}

/* ------------------------------------------------------------------------ */
/* Loading and finding patches                                               */
/* ------------------------------------------------------------------------ */

/**
 * Load the patch object at `path`: check the file with libelf (ELF class,
 * machine and type, every header and segment inside the file, an exported
 * `hotpatch_descriptor`), dlopen() it with RTLD_NOW | RTLD_LOCAL, validate the
 * descriptor and resolve every target. Changes no code. On success the patch
 * is LOADED and `*out` is its handle; on failure nothing is kept (no registry
 * entry, no open handle, no memory) and `*out` is NULL.
 *
 * @retval HOTPATCH_EINVAL      NULL argument; descriptor without a name, a
 *                              func without target or replacement, unknown
 *                              flags, a target listed twice
 * @retval HOTPATCH_ENOTELF     the file is not ELF (or cannot be opened:
 *                              -errno of open())
 * @retval HOTPATCH_EBADELF     the ELF is truncated or malformed
 * @retval HOTPATCH_EFOREIGN    wrong ELF class or machine, or not ET_DYN
 * @retval HOTPATCH_ENODESC     no exported `hotpatch_descriptor`
 * @retval HOTPATCH_EDLOPEN     dlopen() refused the object (detail: dlerror)
 * @retval HOTPATCH_EMAGIC, HOTPATCH_EABI  descriptor from another library
 * @retval HOTPATCH_EEXIST      a loaded patch has the same name
 * @retval HOTPATCH_ENOOBJ, HOTPATCH_ENOENT, HOTPATCH_EAMBIGUOUS,
 *         HOTPATCH_EBUILDID, HOTPATCH_ESTALEFILE, HOTPATCH_EIFUNC,
 *         HOTPATCH_ENOSIZE, HOTPATCH_ECLONE, HOTPATCH_ENOTCODE,
 *         HOTPATCH_ENOSYMTAB  a target could not be resolved (see
 *                              hotpatch_func)
 * Thread-safety: safe; serialised with every other action.
 */
HOTPATCH_API int hotpatch_load(const char *path, hotpatch_patch **out);

/**
 * Register a descriptor that is already in the process (linked in, or from
 * an object the caller opened). Same validation as hotpatch_load() after its
 * dlopen step; the descriptor must outlive the registration.
 */
HOTPATCH_API int hotpatch_register(const struct hotpatch_desc *d,
                                   hotpatch_patch **out);

/*
 * The lifecycle (SPEC §3; docs/lifecycle.md has the state machine).
 *
 * A loaded patch is LOADED or APPLIED and has an rc, the result of its
 * last action; a failed action leaves the status as it was. Applied
 * patches form a stack: apply pushes, revert pops (newest first), and the
 * newest patch replacing a function wins; its `original` pointer reaches
 * the replacement of the patch below it, the bottom one's the original
 * code. One action at a time, process-wide: a second one, from another
 * thread or from a hook, returns HOTPATCH_EBUSY at once (and becomes that
 * patch's rc, unless it is the patch in transition).
 *
 * An apply, in order:
 *   1. static checks — nothing else runs if one fails, its code is rc:
 *      re-apply of a reverted patch without HOTPATCH_REAPPLYABLE
 *      (HOTPATCH_EINVAL); state versions (below; HOTPATCH_EINVAL); for a
 *      replace, pre/post hooks on the new or any applied patch
 *      (HOTPATCH_EOPNOTSUPP); every function's entry analysed and its
 *      trampoline built (HOTPATCH_ETOOSHORT, _EBRANCHIN, _ERELOC,
 *      _EDECODE, _ENONEAR, _ECODEWRITE: docs/rewriting.md);
 *   2. rc becomes HOTPATCH_EAGAIN; hotpatch_get_prev_state() works;
 *   3. pre_apply(p), other threads running, the library unlocked: a
 *      non-zero return vetoes the apply; it is returned and becomes rc;
 *   4. every other thread is parked and checked to be at a safe point
 *      (none of its PC, LR or stack return addresses in a function being
 *      replaced; with HOTPATCH_FUNC_ALLOW_ACTIVE only in the bytes
 *      overwritten); if one is not, all are released and the check
 *      retried, backing off, until the deadline (HOTPATCH_EBUSY naming the
 *      thread and function, or the thread that did not stop);
 *   5. parked: quiesced_apply(p), then every entry is written; if a write
 *      fails, the ones done are undone and quiesced_revert(p) runs;
 *   6. threads released; the patch is APPLIED;
 *   7. post_apply(p, rc), exactly once whenever pre_apply ran and returned
 *      0 (rc == hotpatch_rc(p), success or not).
 * A revert mirrors it: pre_revert (may veto), park and check that no thread
 * is in a replacement being removed or a trampoline being freed, write the
 * original entries back, quiesced_revert(p), release, post_revert(p, rc).
 *
 * States (Linux klp_state rules, checked before any hook): for each state
 * of every applied patch, the patch being applied must carry the same id
 * with a version at least as new; a missing id is an error only for a
 * replace; new ids are always fine.
 *
 * Threads blocked in a system call see it interrupted and restarted
 * (SA_RESTART), except the calls signal(7) lists as never restarted,
 * which return EINTR (see docs/safety.md).
 */

/** Options of one action; NULL means all defaults. */
struct hotpatch_opts {
  uint32_t timeout_ms; /* deadline for parking every thread at a safe point;
                          0 = the configured default (hotpatch_config) */
  unsigned flags;      /* reserved, 0 */
};

/**
 * Apply a LOADED patch on top of the applied ones (a patch flagged
 * HOTPATCH_REPLACE: as hotpatch_replace). Applying an APPLIED patch
 * returns 0 and does nothing.
 * @retval 0                    applied
 * @retval HOTPATCH_EINVAL      NULL or unknown handle; reverted and not
 *                              HOTPATCH_REAPPLYABLE; a state version older
 *                              than an applied patch's
 * @retval HOTPATCH_EBUSY       another action in progress, or a thread in
 *                              the way until the deadline
 * @retval HOTPATCH_EOPNOTSUPP  (cumulative) a patch involved has pre/post
 *                              hooks
 * @retval HOTPATCH_ETOOSHORT, HOTPATCH_EBRANCHIN, HOTPATCH_ERELOC,
 *         HOTPATCH_EDECODE, HOTPATCH_ENONEAR  a function's entry cannot be
 *                              rewritten (docs/rewriting.md)
 * @retval HOTPATCH_ECODEWRITE  no way to write code in this process
 * @retval HOTPATCH_ECHANGED    a function's entry changed since it was read
 * @retval HOTPATCH_ENOPAD      aarch64: a replacement on a BTI-guarded page
 *                              that only BR x16 reaches does not start with
 *                              a landing pad
 * @retval HOTPATCH_EIO         a code page's protection could not be put
 *                              back after a write
 * @retval other                pre_apply's non-zero return, verbatim
 * The result is also kept as hotpatch_rc(p). On a failure nothing has
 * changed, with one exception, logged at error level: a write that fails
 * in the parked window after others succeeded, whose undo fails too
 * (ECHANGED, ECODEWRITE, EIO). The patch is then left APPLIED, part of
 * its code switched, and hotpatch_revert() restores what was written
 * (docs/safety.md, "When a switch fails half-way").
 * Thread-safety: safe. Not from a quiesced hook.
 */
HOTPATCH_API int hotpatch_apply(hotpatch_patch *p,
                                const struct hotpatch_opts *o);

/**
 * Revert the newest APPLIED patch: its functions go back to the patch
 * below (or the original code); its trampolines and stubs are freed.
 * Reverting a LOADED patch returns 0 and does nothing. Reverting again
 * later needs HOTPATCH_REAPPLYABLE to re-apply.
 * @retval HOTPATCH_EBUSY  not the newest applied patch (revert that one
 *                         first), another action in progress, or a thread
 *                         in a replacement until the deadline
 * @retval HOTPATCH_ECHANGED, HOTPATCH_EINVAL as for apply; pre_revert's
 *                         non-zero return, verbatim
 */
HOTPATCH_API int hotpatch_revert(hotpatch_patch *p,
                                 const struct hotpatch_opts *o);

/**
 * Apply `p` as a cumulative patch: in ONE parked window revert every
 * applied patch and apply `p`, so that no thread ever sees a mix. Every
 * function of every applied patch and of `p` is checked at the safe points
 * together. The replaced patches become LOADED, reverted, with
 * hotpatch_status().replaced_by naming `p`; their hooks do not run, and
 * only `p`'s quiesced_apply does. Refused (HOTPATCH_EOPNOTSUPP) if `p` or
 * any applied patch has a pre/post hook; states of the applied patches
 * must all be carried by `p` (HOTPATCH_EINVAL). On any failure everything
 * stays as it was, but for a switch that fails half-way and cannot be
 * undone: the applied patches then stay APPLIED, and `p` can no longer be
 * unloaded (HOTPATCH_EBUSY), as the code may reach either. Codes as for
 * hotpatch_apply.
 */
HOTPATCH_API int hotpatch_replace(hotpatch_patch *p,
                                  const struct hotpatch_opts *o);

/**
 * Forget a LOADED patch and dlclose() its object (if it came from
 * hotpatch_load). The handle is invalid afterwards. Shadow variables it
 * allocated are not freed (Linux's rule). No hook runs.
 * @retval HOTPATCH_EINVAL NULL or unknown handle, or the patch is APPLIED
 * @retval HOTPATCH_EBUSY  another action is in progress (or called from a
 *                         hook), or a replace with it failed half-way
 *                         (see hotpatch_replace)
 */
HOTPATCH_API int hotpatch_unload(hotpatch_patch *p);

/** The loaded patch called `name`, or NULL. */
HOTPATCH_API hotpatch_patch *hotpatch_find(const char *name);

/**
 * Call `cb` for each loaded patch in load order until it returns non-zero;
 * return that value (0 if every call returned 0). The callback must not load,
 * unload or act on patches (those calls return HOTPATCH_EBUSY from inside it).
 */
HOTPATCH_API int hotpatch_foreach(int (*cb)(hotpatch_patch *p, void *arg),
                                  void *arg);

/* Accessors. Handles stay valid until hotpatch_unload(). */

/** The patch's name; NULL for a NULL handle. */
HOTPATCH_API const char *hotpatch_name(const hotpatch_patch *p);
/** 1 if APPLIED, 0 if LOADED, HOTPATCH_EINVAL for a NULL handle. */
HOTPATCH_API int hotpatch_is_applied(const hotpatch_patch *p);
/** Result of the last action on `p` (Xen "rc"); 0 after load;
 *  HOTPATCH_EINVAL for a NULL handle. */
HOTPATCH_API int hotpatch_rc(const hotpatch_patch *p);
/** The descriptor; NULL for a NULL handle. */
HOTPATCH_API const struct hotpatch_desc *
hotpatch_desc_of(const hotpatch_patch *p);

/** A patch's status at one moment (hotpatch_status). */
struct hotpatch_status {
  int applied;       /* 1 APPLIED, 0 LOADED */
  int rc;            /* hotpatch_rc(); HOTPATCH_EAGAIN while in transition */
  int reverted;      /* it was applied once and reverted or replaced */
  int in_transition; /* an action on it is running (its hooks, say) */
  char replaced_by[128]; /* the cumulative patch that replaced it, or "" */
};

/**
 * Fill `out` with p's status, read under the library's lock (consistent).
 * @retval HOTPATCH_EINVAL NULL argument or unknown handle
 * Thread-safety: safe, also from another thread while p's hooks run.
 */
HOTPATCH_API int hotpatch_status(const hotpatch_patch *p,
                                 struct hotpatch_status *out);

/* ------------------------------------------------------------------------ */
/* States and shadow variables                                               */
/* ------------------------------------------------------------------------ */

/**
 * The first entry of p's states with this id (the array ends at the first
 * id 0), or NULL. Its `data` is the patch's to use (Linux klp_get_state).
 * Thread-safety: safe. Async-signal-safety: safe.
 */
HOTPATCH_API struct hotpatch_state *hotpatch_get_state(hotpatch_patch *p,
                                                       unsigned long id);

/**
 * During a transition (from its hooks): the state with this id of the
 * newest applied patch below the one in transition — during a replace the
 * patches being replaced still count — or NULL. Outside a transition NULL,
 * with a warning the first time (Linux klp_get_prev_state).
 * Thread-safety: safe; from a quiesced hook too (it takes no lock there).
 */
HOTPATCH_API struct hotpatch_state *hotpatch_get_prev_state(unsigned long id);

/*
 * Shadow variables (Linux klp_shadow_*): data of `size` bytes a patch
 * attaches to an existing object `obj` under an `id`, e.g. a new field of
 * a struct it cannot change. The constructor runs once, when the variable
 * is created, on zero-filled data, under the shadow lock; a non-zero
 * return creates nothing. Neither constructor nor destructor may call a
 * hotpatch_shadow_ function, and none of them may be called from a
 * quiesced hook (they take a lock). Variables outlive the patch that made
 * them (unload frees none).
 */

/** The variable <obj, id>, or NULL. */
HOTPATCH_API void *hotpatch_shadow_get(void *obj, unsigned long id);
/** Create <obj, id>; NULL (and a warning) if it exists, if out of memory,
 *  or if `ctor` fails. */
HOTPATCH_API void *
hotpatch_shadow_alloc(void *obj, unsigned long id, size_t size,
                      int (*ctor)(void *obj, void *shadow, void *arg),
                      void *arg);
/** The existing <obj, id> (its constructor is not called), or a new one. */
HOTPATCH_API void *
hotpatch_shadow_get_or_alloc(void *obj, unsigned long id, size_t size,
                             int (*ctor)(void *obj, void *shadow, void *arg),
                             void *arg);
/** Free <obj, id> if it exists, calling `dtor` (may be NULL) first. */
HOTPATCH_API void hotpatch_shadow_free(void *obj, unsigned long id,
                                       void (*dtor)(void *obj, void *shadow));
/** Free every variable with this id, calling `dtor` for each. */
HOTPATCH_API void hotpatch_shadow_free_all(unsigned long id,
                                           void (*dtor)(void *obj,
                                                        void *shadow));

/** Where the i-th function of a patch resolved (descriptor order). */
struct hotpatch_func_info {
  const char *target; /* symbol name, as in the descriptor */
  const char *object; /* basename of the object it lives in */
  void *address;      /* runtime address of its entry */
  size_t size;        /* its symbol size in bytes */
  void *replacement;  /* the replacement function */
};

/**
 * Fill `out` for function `i` of `p`. Strings are owned by the patch and
 * live until it is unloaded.
 * @retval HOTPATCH_EINVAL NULL argument
 * @retval HOTPATCH_ENOENT `i` is past the last function
 */
HOTPATCH_API int hotpatch_func_info(const hotpatch_patch *p, size_t i,
                                    struct hotpatch_func_info *out);

/* ------------------------------------------------------------------------ */
/* Threads that park themselves                                              */
/* ------------------------------------------------------------------------ */

/*
 * To switch code, an action parks every other thread of the process: it
 * sends each one the park signal (HOTPATCH_SIGNAL, default SIGRTMIN+7),
 * whose handler waits until the code is switched. A thread that must not
 * be interrupted by a signal (its blocking calls would return EINTR, it
 * blocks signals, it is timing-sensitive) can instead declare itself
 * cooperative and park itself at points of its choosing. docs/safety.md
 * describes the protocol and what a parked thread may be doing.
 */

/**
 * Declare the calling thread cooperative (`on` non-zero) or not (0).
 * A cooperative thread is never sent the park signal; it must call
 * hotpatch_safepoint() regularly, e.g. at the top of its event loop. If it
 * does not reach hotpatch_safepoint() before an action's deadline (it
 * sleeps in a blocking call, say), the action fails with HOTPATCH_EBUSY
 * naming it. Registering twice, or unregistering a thread that is not
 * registered, does nothing. A thread that is being waited for when it
 * unregisters parks first. A thread that exits is unregistered; after
 * fork() only the forking thread can still be cooperative.
 * @retval 0              done
 * @retval HOTPATCH_ENOMEM more than 1024 threads are cooperative
 * Thread-safety: safe. Async-signal-safety: not safe.
 */
HOTPATCH_API int hotpatch_thread_cooperative(int on);

/**
 * A safe point of a cooperative thread: if an action is waiting for this
 * thread, park here until the code is switched, then return; otherwise
 * return at once (one atomic load). Parked here, the thread is checked
 * like any other: if a function being replaced is on its stack (its
 * caller, say) the action releases it and retries, so a loop that never
 * returns and calls this from inside must be flagged
 * HOTPATCH_FUNC_ALLOW_ACTIVE to be replaced. Does nothing in a thread that
 * is not cooperative.
 * Thread-safety: safe. Async-signal-safety: safe.
 */
HOTPATCH_API void hotpatch_safepoint(void);

#ifdef __cplusplus
}
#endif

#endif /* HOTPATCH_H */
