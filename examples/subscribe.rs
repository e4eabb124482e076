//! Prints each call as pushes about it are stored: `callUpdated` over
//! `graphql-transport-ws`, in a few lines of Rust.
//!
//! cargo run --example subscribe -- ws://127.0.0.1:8080/graphql [TOKEN]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or("ws://127.0.0.1:8080/graphql".into());
    let token = args.next();
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = match token {
        Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
        None => json!({}),
    };
    let query = "subscription { callUpdated { conversationId status workflow callResult agentNickName totalTime } }";
    for message in [
        json!({ "type": "connection_init", "payload": init }),
        json!({ "type": "subscribe", "id": "calls", "payload": { "query": query } }),
    ] {
        socket.send(Message::text(message.to_string())).await?;
    }
    while let Some(message) = socket.next().await {
        match message? {
            Message::Text(text) => {
                let message: Value = serde_json::from_str(&text)?;
                match message["type"].as_str() {
                    Some("next") => println!("{}", message["payload"]["data"]["callUpdated"]),
                    Some("ping") => socket.send(Message::text(r#"{"type":"pong"}"#)).await?,
                    Some("error") => eprintln!("refused: {}", message["payload"]),
                    _ => {}
                }
            }
            Message::Close(frame) => {
                eprintln!("closed: {frame:?}");
                break;
            }
            _ => {}
        }
    }
    Ok(())
}
