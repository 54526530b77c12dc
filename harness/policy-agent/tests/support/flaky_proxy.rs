//! A TCP front for a mock server that can drop chosen connections, to simulate the faults wiremock
//! cannot: a connection reset before the request reaches the server, and one reset *after* the
//! server has handled the request (the acknowledgement is lost). Clients must use one connection per
//! request (`http_client::build(.., pooled = false)`) for the actions to line up with requests.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug)]
pub enum Action {
    Forward,
    /// Read the request, then close without forwarding it.
    DropBeforeForward,
    /// Forward the request, wait for the response to start, then close without relaying it.
    DropAfterForward,
}

pub struct FlakyProxy {
    pub addr: SocketAddr,
    actions: Arc<Mutex<VecDeque<Action>>>,
}

impl FlakyProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let actions: Arc<Mutex<VecDeque<Action>>> = Arc::default();
        let queue = actions.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let action = queue.lock().unwrap().pop_front().unwrap_or(Action::Forward);
                tokio::spawn(handle(client, upstream, action));
            }
        });
        Self { addr, actions }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forgets queued actions: every later connection is forwarded.
    pub fn clear(&self) {
        self.actions.lock().unwrap().clear();
    }

    /// Queues actions for the next connections (later ones are forwarded).
    pub fn push(&self, actions: &[Action]) {
        self.actions.lock().unwrap().extend(actions.iter().copied());
    }
}

async fn handle(mut client: TcpStream, upstream: SocketAddr, action: Action) {
    match action {
        Action::Forward => {
            if let Ok(mut up) = TcpStream::connect(upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
            }
        }
        Action::DropBeforeForward => {
            let mut buf = [0u8; 4096];
            let _ = client.read(&mut buf).await;
        }
        Action::DropAfterForward => {
            let Ok(mut up) = TcpStream::connect(upstream).await else { return };
            let (mut cr, _cw) = client.split();
            let (mut ur, mut uw) = up.split();
            let mut buf = vec![0u8; 64 * 1024];
            let mut resp = [0u8; 1];
            // Relay request bytes until the server starts answering, then hang up on both sides.
            loop {
                tokio::select! {
                    n = cr.read(&mut buf) => match n {
                        Ok(0) | Err(_) => return,
                        Ok(n) => { if uw.write_all(&buf[..n]).await.is_err() { return; } }
                    },
                    _ = ur.read(&mut resp) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        return;
                    }
                }
            }
        }
    }
}
