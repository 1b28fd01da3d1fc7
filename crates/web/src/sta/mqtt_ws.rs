//! MQTT over WebSocket at `/mqtt` on the HTTP port (browser map clients such as Masterportal
//! connect with `wss://HOST/mqtt`, subprotocol `mqtt`). The WebSocket's binary frames are turned
//! into a byte stream for the MQTT side, which serves it as one more broker connection (or pipes
//! it to the external broker). Without a running MQTT side the path answers 404.

use crate::AppState;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let Some(accept) = state.mqtt_ws.get().cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let limit = state.env.config.http.body_limit_bytes.max(64 * 1024);
    ws.protocols(["mqtt", "mqttv3.1"])
        .max_message_size(limit)
        .on_upgrade(move |socket| pump(socket, accept))
}

async fn pump(mut socket: WebSocket, accept: crate::MqttWs) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    accept(theirs);
    let (mut rd, mut wr) = tokio::io::split(ours);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    if wr.write_all(&b).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            n = rd.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let frame = axum::body::Bytes::copy_from_slice(&buf[..n]);
                    if socket.send(Message::Binary(frame)).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    let _ = wr.shutdown().await;
    let _ = socket.send(Message::Close(None)).await;
}
