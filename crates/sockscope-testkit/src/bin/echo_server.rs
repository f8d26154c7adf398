//! `sockscope-echo-server [ADDR]`: a WebSocket echo server for manual tries and GUI tests.
//! Prints `listening ws://ADDR/` once bound (default 127.0.0.1:0), runs until killed.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let server = match sockscope_testkit::EchoServer::bind(&addr).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sockscope-echo-server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("listening {}", server.url());
    let _ = tokio::signal::ctrl_c().await;
    server.stop().await;
}
