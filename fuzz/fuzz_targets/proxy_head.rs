//! The proxy's request and response head readers (request line, headers, the 64 KiB cap) on
//! any bytes, as they arrive from a client or an upstream.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sockscope_proxy::http;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        let mut buf = BytesMut::new();
        let mut input = data;
        if let Ok(Some(head)) = http::read_request(&mut input, &mut buf).await {
            let _ = http::text_headers(&head.headers);
            let _ = http::header(&head.headers, "sec-websocket-key");
            let _ = http::encode_request(&head.method, &head.target, &head.headers);
        }
        let mut buf = BytesMut::new();
        let mut input = data;
        if let Ok(head) = http::read_response(&mut input, &mut buf).await {
            let _ = http::text_headers(&head.headers);
            let _ = http::header(&head.headers, "sec-websocket-extensions");
        }
    });
});
