//! A fast WebSocket echo server: every complete frame in a read is answered in one write
//! (data frames echoed with their opcode and FIN, pings answered with pongs, a Close echoed
//! before the socket is shut). No allocation per message.

use crate::codec::{self, apply_mask, parse_head, write_head};
use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections forever (until the task is dropped).
pub async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    // A broken client only ends its own connection.
                    let _ = echo(stream).await;
                });
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

/// Binds `addr` and serves on the current runtime; returns the bound address.
pub async fn start(addr: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(listener));
    Ok(local)
}

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let rest = codec::server_handshake(&mut stream).await?;
    let mut inbuf = BytesMut::with_capacity(256 << 10);
    inbuf.extend_from_slice(&rest);
    let mut out: Vec<u8> = Vec::with_capacity(256 << 10);
    loop {
        let mut closing = false;
        loop {
            let head = match parse_head(&inbuf) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(std::io::Error::other(e)),
            };
            let total = head.total() as usize;
            if inbuf.len() < total {
                inbuf.reserve(total - inbuf.len());
                break;
            }
            let payload = &mut inbuf[head.header_len..total];
            if let Some(m) = head.mask {
                apply_mask(payload, m);
            }
            match head.opcode {
                codec::OP_PING => {
                    write_head(&mut out, codec::OP_PONG, payload.len(), None);
                    out.extend_from_slice(payload);
                }
                codec::OP_PONG => {}
                codec::OP_CLOSE => {
                    write_head(&mut out, codec::OP_CLOSE, payload.len(), None);
                    out.extend_from_slice(payload);
                    closing = true;
                }
                op => {
                    out.push(if head.fin { 0x80 } else { 0 } | op);
                    // Same length form, no mask.
                    let mut h = Vec::with_capacity(10);
                    write_head(&mut h, op, payload.len(), None);
                    out.extend_from_slice(&h[1..]);
                    out.extend_from_slice(payload);
                }
            }
            inbuf.advance(total);
            if closing {
                break;
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if closing {
            let _ = stream.shutdown().await;
            return Ok(());
        }
        if inbuf.capacity() - inbuf.len() < 64 << 10 {
            inbuf.reserve(64 << 10);
        }
        if stream.read_buf(&mut inbuf).await? == 0 {
            return Ok(());
        }
    }
}
