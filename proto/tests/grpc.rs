//! The control-plane gRPC types compile from the `.proto` (with `protox`, no `protoc`) and
//! messages round-trip through prost. Only built with `--features grpc`.
#![cfg(feature = "grpc")]

use prost::Message;
use sentientiq_proto::grpc;

#[test]
fn messages_round_trip_and_services_exist() {
    let t = grpc::Tenant {
        id: "demo".into(),
        name: "Demo".into(),
        key_hashes: vec!["ab".repeat(32)],
        allowed_origins: vec!["http://localhost:8080".into()],
        emit: true,
        dnt: grpc::DntPolicy::Anonymous as i32,
        ..Default::default()
    };
    let bytes = t.encode_to_vec();
    assert_eq!(grpc::Tenant::decode(bytes.as_slice()).expect("decodes"), t);
    let w = grpc::WindowAggregate {
        detections: vec![1, 0, 2, 0, 0],
        ..Default::default()
    };
    assert_eq!(
        grpc::WindowAggregate::decode(w.encode_to_vec().as_slice()).expect("decodes"),
        w
    );
    // The service modules tonic generated are there for the control plane and edges.
    let _ = grpc::tenant_admin_server::SERVICE_NAME;
    let _ = grpc::edge_sync_server::SERVICE_NAME;
    assert_eq!(
        grpc::analytics_server::SERVICE_NAME,
        "sentientiq.v1.Analytics"
    );
}
