//! A real S3-compatible server for tests and local trials (feature `s3-server`): `s3s` speaking
//! the S3 REST protocol with SigV4 authentication over `s3s-fs` (objects stored as files), on a
//! tokio runtime of its own, on a loopback port. [`S3Server::stop`] closes the listener and every
//! open connection, so clients see the endpoint refuse; [`S3Server::start`] on the same port
//! brings it back over the same data.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

/// The credentials the test server accepts.
pub const ACCESS_KEY: &str = "siq-test-access";
pub const SECRET_KEY: &str = "siq-test-secret-0123456789";

/// A running server. Dropping it stops it.
#[derive(Debug)]
pub struct S3Server {
    addr: SocketAddr,
    root: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Serves `root` (one directory per bucket; `buckets` are created) on `127.0.0.1:port`
    /// (`0`: any free port).
    pub fn start(root: &Path, port: u16, buckets: &[&str]) -> std::io::Result<S3Server> {
        for b in buckets {
            std::fs::create_dir_all(root.join(b))?;
        }
        let fs =
            s3s_fs::FileSystem::new(root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("s3-test-server")
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("s3-test-server".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                        return;
                    };
                    let http = ConnBuilder::new(TokioExecutor::new());
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            r = listener.accept() => {
                                let Ok((socket, _)) = r else { continue };
                                let conn = http
                                    .serve_connection(TokioIo::new(socket), service.clone())
                                    .into_owned();
                                tokio::spawn(async move {
                                    let _ = conn.await;
                                });
                            }
                        }
                    }
                });
                // Drops the listener and every connection task: the endpoint refuses.
                rt.shutdown_background();
            })?;
        Ok(S3Server {
            addr,
            root: root.to_path_buf(),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stops serving; returns once the port is closed.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}
