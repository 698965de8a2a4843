//! An application that installed its own subscriber first: setup neither
//! fails nor panics, the report says so, and `layer()` plugs our layers in.
//! Also: `initialize_observability` is idempotent. Own process (globals).

use observability_integration::{
    global_report, initialize_observability, shutdown_observability, EnvSource,
    ObservabilityConfig, SignalState,
};
use std::time::Duration;

#[test]
fn setup_reports_an_existing_subscriber_and_is_idempotent() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap();
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .enable_console_exporter(true)
        .enable_prometheus(false)
        .enable_viewer(false)
        .build()
        .unwrap();
    let ok = initialize_observability(cfg.clone());
    assert!(!ok, "logs asked for but not installed");
    let report = global_report().unwrap();
    assert_eq!(report.logs, SignalState::Failed);
    assert_eq!(report.traces, SignalState::Live);
    assert!(!report.subscriber_installed);
    let failure = report
        .failures
        .iter()
        .find(|f| f.component == "logs")
        .unwrap();
    assert!(failure.error.contains("layer()"), "{}", failure.error);
    assert!(report.to_string().contains("NOT everything"), "{report}");

    // Our layers for the user's own subscriber.
    let layer = observability_integration::layer::<tracing_subscriber::Registry>();
    assert!(layer.is_some());

    // Idempotent: same answer, nothing reinstalled.
    assert!(!initialize_observability(cfg));
    assert_eq!(
        global_report().unwrap().exporters.len(),
        report.exporters.len()
    );

    let shut = shutdown_observability(Duration::from_secs(5)).unwrap();
    assert!(shut.completed);
    assert!(shutdown_observability(Duration::from_secs(1)).is_none());
}
