//! Puts libtorch's directory into the binary's rpath so `gradtrust-video` runs without
//! LD_LIBRARY_PATH, and keeps libtorch_cuda linked (the linker would drop it under
//! --as-needed, since nothing references it by symbol, and CUDA would then look absent).
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
        if Path::new(&lib_dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
