//! TCP connections for SIP (RFC 3261 §18): a listener, outgoing connections
//! opened on demand and reused per peer address, Content-Length framing.

use agentphone_sip::transport::ConnId;
use anyhow::{anyhow, Context, Result};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

type Inbound = (ConnId, SocketAddr, Vec<u8>);

#[derive(Default)]
struct Conns {
    writers: HashMap<ConnId, (SocketAddr, mpsc::UnboundedSender<Vec<u8>>)>,
    /// Writer tasks, kept so `close` can wait until what was queued is on the wire.
    flushing: Vec<JoinHandle<()>>,
}

/// All TCP connections of one endpoint.
pub struct TcpPool {
    local: SocketAddr,
    conns: Arc<Mutex<Conns>>,
    next: Arc<AtomicU64>,
    inbound_tx: mpsc::UnboundedSender<Inbound>,
    inbound_rx: mpsc::UnboundedReceiver<Inbound>,
}

impl TcpPool {
    /// Listens on `addr` (TCP port = the UDP port when free, else any port).
    pub async fn bind(addr: SocketAddr) -> Result<Self> {
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(_) => TcpListener::bind(SocketAddr::new(addr.ip(), 0)).await?,
        };
        let local = listener.local_addr()?;
        let (inbound_tx, inbound_rx) = mpsc::unbounded_channel();
        let pool = TcpPool {
            local,
            conns: Arc::default(),
            next: Arc::new(AtomicU64::new(1)),
            inbound_tx,
            inbound_rx,
        };
        let (conns, next, tx) = (
            pool.conns.clone(),
            pool.next.clone(),
            pool.inbound_tx.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let id = ConnId(next.fetch_add(1, Ordering::Relaxed));
                start_conn(id, stream, peer, conns.clone(), tx.clone());
            }
        });
        Ok(pool)
    }

    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next framed message from any connection.
    pub async fn recv(&mut self) -> Option<Inbound> {
        self.inbound_rx.recv().await
    }

    /// Sends on `conn`, or on a connection to `addr` (opened when needed).
    pub async fn send(
        &mut self,
        conn: Option<ConnId>,
        addr: SocketAddr,
        bytes: Vec<u8>,
    ) -> Result<()> {
        let existing = {
            let conns = self
                .conns
                .lock()
                .map_err(|_| anyhow!("connection table poisoned"))?;
            match conn {
                Some(id) => conns.writers.get(&id).map(|(_, w)| w.clone()),
                None => conns
                    .writers
                    .values()
                    .find(|(a, _)| *a == addr)
                    .map(|(_, w)| w.clone()),
            }
        };
        let writer = match existing {
            Some(w) => w,
            None => {
                let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
                    .await
                    .map_err(|_| anyhow!("TCP connect to {addr} timed out"))?
                    .with_context(|| format!("TCP connect to {addr}"))?;
                let id = ConnId(self.next.fetch_add(1, Ordering::Relaxed));
                start_conn(
                    id,
                    stream,
                    addr,
                    self.conns.clone(),
                    self.inbound_tx.clone(),
                )
            }
        };
        writer
            .send(bytes)
            .map_err(|_| anyhow!("TCP connection to {addr} closed"))
    }

    /// Writes out what is queued on every connection and closes them, waiting
    /// at most `limit`. `send` only queues: a process that exits right after
    /// answering a BYE would otherwise lose the 200 (the peer then counts the
    /// call as failed).
    pub async fn close(&mut self, limit: Duration) {
        let flushing = match self.conns.lock() {
            Ok(mut c) => {
                // Dropping the senders ends each writer once its queue is empty.
                c.writers.clear();
                std::mem::take(&mut c.flushing)
            }
            Err(_) => return,
        };
        let all = async {
            for h in flushing {
                let _ = h.await;
            }
        };
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("TCP connections not flushed within {limit:?}; closing anyway");
        }
    }
}

fn start_conn(
    id: ConnId,
    stream: TcpStream,
    peer: SocketAddr,
    conns: Arc<Mutex<Conns>>,
    inbound: mpsc::UnboundedSender<Inbound>,
) -> mpsc::UnboundedSender<Vec<u8>> {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = wrx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    if let Ok(mut c) = conns.lock() {
        c.writers.insert(id, (peer, wtx.clone()));
        c.flushing.retain(|h| !h.is_finished());
        c.flushing.push(writer);
    }
    tokio::spawn(async move {
        let mut framer = super::new_framer();
        let mut buf = vec![0u8; 16_384];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            framer.push(&buf[..n]);
            while let Some(next) = framer.next_message() {
                match next {
                    Ok(msg) => {
                        if inbound.send((id, peer, msg)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "closing TCP connection: bad framing");
                        if let Ok(mut c) = conns.lock() {
                            c.writers.remove(&id);
                        }
                        return;
                    }
                }
            }
        }
        if let Ok(mut c) = conns.lock() {
            c.writers.remove(&id);
        }
    });
    wtx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a single-threaded runtime the writer task cannot run before `close`
    /// is awaited, so the bytes reach the peer only if `close` drains the queue.
    #[tokio::test(flavor = "current_thread")]
    async fn close_writes_out_what_was_queued_and_ends_the_connection() {
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer_addr = peer.local_addr().unwrap();
        let mut pool = TcpPool::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let message = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
        pool.send(None, peer_addr, message.clone()).await.unwrap();
        let (mut stream, _) = peer.accept().await.unwrap();
        pool.close(Duration::from_secs(2)).await;
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut got))
            .await
            .expect("connection closed after the flush")
            .unwrap();
        assert_eq!(got, message);
    }
}
