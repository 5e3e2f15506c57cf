//! `atb-mock-binance [ADDR]`: serves the mock klines API until killed, for demos and manual tests.

use atb_mock_binance::{MockBinance, MockConfig};

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8765".to_string());
    match MockBinance::start_on(&addr, MockConfig::default()) {
        Ok(server) => {
            println!(
                "mock Binance klines API at {} (symbols BTCUSDT, ETHUSDT); Ctrl-C to stop",
                server.url()
            );
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    }
}
