//! Builds the kernel programs (`probes/ebpf`) for the BPF target with the
//! nightly toolchain and bpf-linker, so that `cargo build` alone produces a
//! `scrim` binary with the object embedded. `scripts/setup.sh` installs both.
use anyhow::{Context as _, anyhow};
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR not set")?;
    let root_dir = format!("{manifest_dir}/ebpf");
    let kernel_crate = Package {
        name: "scrim-probes-ebpf",
        root_dir: &root_dir,
        ..Default::default()
    };
    println!("cargo:rerun-if-changed={manifest_dir}/abi/src");
    aya_build::build_ebpf([kernel_crate], Toolchain::default()).map_err(|error| {
        anyhow!(
            "building the eBPF programs failed: {error:#}\n\
             hint: run scripts/setup.sh to install the nightly rust-src and bpf-linker"
        )
    })
}
