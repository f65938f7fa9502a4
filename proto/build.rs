//! Compiles the control-plane `.proto` when the `grpc` feature is on, with `protox` (a protobuf
//! compiler in Rust), so no `protoc` is needed on the machine.

fn main() {
    println!("cargo:rerun-if-changed=sentientiq/v1/control.proto");
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "grpc")]
    if let Err(e) = grpc() {
        eprintln!("compiling sentientiq/v1/control.proto failed: {e}");
        std::process::exit(1);
    }
}

#[cfg(feature = "grpc")]
fn grpc() -> Result<(), Box<dyn std::error::Error>> {
    let fds = protox::compile(["sentientiq/v1/control.proto"], ["."])?;
    // The encoded descriptors, for gRPC server reflection.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("control_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        // JSON for siqctl --json and tenant files.
        .message_attribute(
            ".",
            "#[derive(serde::Serialize, serde::Deserialize)] #[serde(default)]",
        )
        .enum_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
