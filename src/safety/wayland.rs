//! The window system's noise kept off detbench's stderr (Mesa asking libwayland for a display).

/// Keeps the window system's complaints off detbench's stderr. Mesa's Vulkan device-select
/// layer asks libwayland for a display while listing devices; with `XDG_RUNTIME_DIR`
/// unset or relative (CI containers, sudo) libwayland logs "error: XDG_RUNTIME_DIR is
/// invalid or not set in the environment." twice, in every process that lists Vulkan
/// devices, tests included. detbench draws nothing on screen: this installs a log handler
/// in libwayland-client (loaded here if it exists; the layer then shares it) that drops
/// that one message and passes every other one on to stderr unchanged. No environment
/// variable is touched, so it is safe with other threads running. Once per process.
pub fn quiet_window_system() {
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(ffi::quiet);
    }
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod ffi {
    use std::ffi::{c_char, c_int, c_void, CStr};

    extern "C" {
        /// glibc's vdprintf(3). Its `va_list` is passed on as the handler received it: on
        /// x86-64 and AArch64 Linux a `va_list` argument travels as a pointer.
        fn vdprintf(fd: c_int, fmt: *const c_char, ap: *mut c_void) -> c_int;
    }

    /// libwayland's `wl_log_func_t`: `void (*)(const char *fmt, va_list args)`.
    unsafe extern "C" fn handler(fmt: *const c_char, ap: *mut c_void) {
        if fmt.is_null() {
            return;
        }
        // SAFETY: libwayland passes a NUL-terminated format string that lives for the call.
        let text = unsafe { CStr::from_ptr(fmt) };
        if text.to_bytes().windows(15).any(|w| w == b"XDG_RUNTIME_DIR") {
            return;
        }
        // SAFETY: `fmt` and `ap` are the pair libwayland built for this message; vdprintf
        // consumes them as its own default handler (vfprintf to stderr) would.
        unsafe {
            vdprintf(2, fmt, ap);
        }
    }

    pub(super) fn quiet() {
        // SAFETY: dlopen/dlsym with NUL-terminated names; the library handle is kept for
        // the life of the process (never closed), so the handler's address stays valid
        // and the symbol is a function of the declared `wl_log_set_handler_client` type.
        unsafe {
            let lib = libc::dlopen(
                c"libwayland-client.so.0".as_ptr(),
                libc::RTLD_NOW | libc::RTLD_LOCAL,
            );
            if lib.is_null() {
                return;
            }
            let set = libc::dlsym(lib, c"wl_log_set_handler_client".as_ptr());
            if set.is_null() {
                return;
            }
            type Handler = unsafe extern "C" fn(*const c_char, *mut c_void);
            let set: unsafe extern "C" fn(Handler) = std::mem::transmute(set);
            set(handler);
        }
    }
}
