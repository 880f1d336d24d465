//! Links the cdylib as `libnss_pnrp.so.2`, the name glibc's NSS loader opens for `pnrp` in
//! nsswitch.conf (`libnss_<service>.so.<INTERFACE>`, interface 2).

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_pnrp.so.2");
    println!("cargo:rerun-if-changed=build.rs");
}
