//! The agent's own HTTP server (contracts §6): health, metrics, status and the two triggers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};

use contracts::agent::Cycle;

use crate::metrics::Metrics;
use crate::triggers::CycleLoop;

#[derive(Clone)]
pub struct ServerState {
    pub metrics: Arc<Metrics>,
    pub refresh: CycleLoop,
    pub audit: CycleLoop,
}

impl ServerState {
    /// The loop that runs `cycle`.
    pub fn loop_for(&self, cycle: Cycle) -> &CycleLoop {
        match cycle {
            Cycle::Refresh => &self.refresh,
            Cycle::Audit => &self.audit,
        }
    }
}

pub fn router(state: ServerState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(|State(s): State<ServerState>| async move {
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
            }),
        )
        .route("/status", get(|State(s): State<ServerState>| async move { Json(s.metrics.status()) }));
    // `POST /trigger/refresh` and `POST /trigger/audit`; any other cycle name is 404.
    for cycle in Cycle::ALL {
        router = router.route(
            &cycle.trigger_path(),
            post(move |State(s): State<ServerState>| async move { trigger(s.loop_for(cycle)).await }),
        );
    }
    router.with_state(state)
}

/// Waits for the triggered cycle; 200 with the outcome (even a failed cycle is a valid answer), 503
/// only if the loop is gone.
async fn trigger(lp: &CycleLoop) -> axum::response::Response {
    match lp.trigger().await {
        Some(outcome) => (StatusCode::OK, Json(outcome)).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"ok": false, "error": "loop stopped"})))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::time::Duration;

    use super::*;
    use crate::triggers::CycleOutcome;

    /// A cycle that only says which kind it is.
    struct Fake(Cycle);

    impl crate::triggers::Cycle for Fake {
        fn kind(&self) -> Cycle {
            self.0
        }

        fn run(&self, _cycle: u64) -> impl Future<Output = Result<String, String>> + Send {
            let kind = self.0;
            async move { Ok(format!("kind={kind}")) }
        }
    }

    #[tokio::test]
    async fn each_cycle_has_its_trigger_route_and_others_are_404() {
        pki::install_ring_provider();
        let metrics = Arc::new(Metrics::default());
        let idle = Duration::from_secs(3600);
        let spawn = |cycle| CycleLoop::spawn(Arc::new(Fake(cycle)), idle, idle, metrics.clone());
        let state =
            ServerState { metrics: metrics.clone(), refresh: spawn(Cycle::Refresh), audit: spawn(Cycle::Audit) };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        let http = reqwest::Client::new();

        for cycle in Cycle::ALL {
            let reply = http.post(format!("{base}{}", cycle.trigger_path())).send().await.unwrap();
            assert_eq!(reply.status(), StatusCode::OK);
            assert_eq!(reply.json::<CycleOutcome>().await.unwrap(), CycleOutcome { cycle: 1, ok: true, error: None });
            assert_eq!(metrics.cycle_stats(cycle).last_summary.as_deref(), Some(format!("kind={cycle}").as_str()));
        }
        assert_eq!(http.post(format!("{base}/trigger/scan")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        assert_eq!(
            http.get(format!("{base}/trigger/audit")).send().await.unwrap().status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
