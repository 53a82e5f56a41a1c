//! The prost code under `src/` is generated from `proto/` and checked in, so a build
//! never needs `protoc`. This test regenerates it with `protox` (a pure-Rust protobuf
//! compiler) and fails on any difference. Run with `RWGATE_REGENERATE=1` to rewrite.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn checked_in_proto_code_matches_proto_files() {
    let root = repo_root();
    let proto_dir = root.join("proto");
    let files = [
        "prometheus/types.proto",
        "prometheus/remote.proto",
        "io/prometheus/write/v2/types.proto",
    ];
    let fds = protox::compile(files, [&proto_dir]).expect("proto files compile");
    let out = tempfile::tempdir().expect("temp dir");
    let out = out.path();
    prost_build::Config::new()
        .out_dir(out)
        .compile_fds(fds)
        .expect("prost-build generates code");

    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let regenerate = std::env::var_os("RWGATE_REGENERATE").is_some();
    for name in ["prometheus.rs", "io.prometheus.write.v2.rs"] {
        let fresh = std::fs::read_to_string(out.join(name)).expect("generated file exists");
        let path = checked_in.join(name);
        if regenerate {
            std::fs::write(&path, &fresh).expect("write generated code");
            continue;
        }
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            old == fresh,
            "{} is stale: run `RWGATE_REGENERATE=1 cargo test -p rwgate-proto --test codegen`",
            path.display()
        );
    }
}
