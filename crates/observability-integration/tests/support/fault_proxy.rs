//! A TCP proxy a test owns in front of a backend (Phoenix), making its
//! faults: down (the port refuses), a black hole (accepts, never answers),
//! slow (each reply chunk held 1 s), errors (answers HTTP 503 or gRPC
//! UNAVAILABLE itself). Changing the mode closes every open connection, so
//! clients meet the new mode on their next connect.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Down,
    BlackHole,
    Slow,
    Errors,
}

pub struct FaultProxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy to `127.0.0.1:upstream` in `mode`; `grpc` picks the error
    /// answer (gRPC UNAVAILABLE, else HTTP 503).
    pub async fn start(upstream: u16, grpc: bool, mode: Mode) -> FaultProxy {
        let port = super::free_port();
        let (tx, rx) = watch::channel(mode);
        let task = tokio::spawn(accept_loop(port, upstream, grpc, rx));
        let proxy = FaultProxy {
            port,
            mode: tx,
            task,
        };
        if mode != Mode::Down {
            // Bound before returning, so a probe at setup finds it.
            for _ in 0..200 {
                if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        proxy
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

async fn accept_loop(port: u16, upstream: u16, grpc: bool, mut rx: watch::Receiver<Mode>) {
    loop {
        let mode = *rx.borrow_and_update();
        if mode == Mode::Down {
            if rx.changed().await.is_err() {
                return;
            }
            continue;
        }
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        loop {
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() { return; }
                    break; // rebind (or stay closed) for the new mode
                }
                accepted = listener.accept() => {
                    let Ok((sock, _)) = accepted else { continue };
                    let mut conn_rx = rx.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = conn_rx.changed() => {}
                            _ = serve(sock, mode, upstream, grpc) => {}
                        }
                    });
                }
            }
        }
    }
}

async fn serve(mut sock: TcpStream, mode: Mode, upstream: u16, grpc: bool) {
    match mode {
        Mode::Down => {}
        Mode::BlackHole => {
            let mut buf = vec![0u8; 64 * 1024];
            while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
            std::future::pending::<()>().await;
        }
        Mode::Errors => errors(sock, grpc).await,
        Mode::Forward | Mode::Slow => {
            let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                return;
            };
            let (mut cr, mut cw) = sock.into_split();
            let (mut ur, mut uw) = up.into_split();
            let to_up = tokio::io::copy(&mut cr, &mut uw);
            let slow = mode == Mode::Slow;
            let to_client = async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match ur.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if slow {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = to_up => {}
                _ = to_client => {}
            }
        }
    }
}

/// Answers every request with an error: HTTP 503, or for gRPC a
/// trailers-only UNAVAILABLE.
async fn errors(sock: TcpStream, grpc: bool) {
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let io = TokioIo::new(sock);
    let svc = service_fn(
        move |_req: hyper::Request<hyper::body::Incoming>| async move {
            let resp = if grpc {
                hyper::Response::builder()
                    .status(200)
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "14")
                    .header("grpc-message", "unavailable (fault proxy)")
                    .body(String::new())
            } else {
                hyper::Response::builder()
                    .status(503)
                    .body("unavailable (fault proxy)".to_owned())
            };
            Ok::<_, std::convert::Infallible>(resp.unwrap())
        },
    );
    if grpc {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, svc)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, svc)
            .await;
    }
}
