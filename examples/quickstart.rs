//! Quickstart: one client library, written once as `async fn`, used three ways.
//!
//! A tiny "weather service" listens on loopback; `WeatherClient` talks to it. The same
//! methods are called from blocking `main` with `.run()`, from async code with `.await`, and
//! from a *sync* helper that runs inside a current_thread tokio runtime, where tokio's own
//! `block_on` panics. Run it with `cargo run --example quickstart`.

use std::io;
use std::net::SocketAddr;
use std::panic;
use std::thread;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// A client for the weather service. Its methods are written once, as `async fn`.
pub struct WeatherClient {
    conn: Mutex<BufReader<TcpStream>>,
}

#[anysync::coroutine]
impl WeatherClient {
    /// Connects to the service.
    pub async fn connect(addr: SocketAddr) -> io::Result<WeatherClient> {
        let stream = TcpStream::connect(addr).await?;
        Ok(WeatherClient {
            conn: Mutex::new(BufReader::new(stream)),
        })
    }

    /// Asks for a city's temperature, in degrees Celsius.
    pub async fn temperature(&self, city: &str) -> io::Result<i32> {
        let mut conn = self.conn.lock().await;
        conn.get_mut()
            .write_all(format!("{city}\n").as_bytes())
            .await?;
        let mut line = String::new();
        conn.read_line(&mut line).await?;
        line.trim()
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// The service: answers each line (a city) with a made-up temperature.
async fn serve(listener: TcpListener) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(city)) = lines.next_line().await {
                let celsius = city.bytes().map(i32::from).sum::<i32>() % 35;
                if write
                    .write_all(format!("{celsius}\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
    }
}

fn thread_name() -> String {
    thread::current().name().unwrap_or("unnamed").to_owned()
}

/// A sync function, e.g. a callback or a sync trait method, that needs the async client.
fn sync_report(client: &WeatherClient, city: &str) -> String {
    let celsius = client.temperature(city).run().expect("temperature");
    format!("{city}: {celsius} °C")
}

#[tokio::main(flavor = "current_thread")]
async fn async_part(client: &WeatherClient) {
    // 2. Async code awaits the very same method.
    let rome = client.temperature("rome").await.expect("temperature");
    println!("2. async code, `.await`:            rome is {rome} °C");

    // 3. A sync helper called from async code. Plain tokio cannot block here:
    let attempt = panic::catch_unwind(|| tokio::runtime::Handle::current().block_on(async { 1 }));
    let payload = attempt.expect_err("tokio refuses to block inside a runtime");
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    let first_sentence = message.split(". ").next().unwrap_or_default();
    println!("3. tokio's own block_on here panics: {first_sentence:?}");
    // ...while `.run()` works, by lending the future to a background thread.
    println!(
        "   anysync's `.run()` here works:     {}",
        sync_report(client, "lima")
    );
}

fn main() -> io::Result<()> {
    // Silence the expected panic of step 3; print everything else as usual.
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("Cannot start a runtime") {
            default_hook(info);
        }
    }));

    // Start the service on anysync's global runtime and get its address back.
    let addr = anysync::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(serve(listener));
        io::Result::Ok(addr)
    })?;
    println!("weather service listening on {addr}\n");

    // 1. Blocking code calls the async API with `.run()`: no runtime to set up.
    let client = WeatherClient::connect(addr).run()?;
    let oslo = client.temperature("oslo").run()?;
    println!(
        "1. blocking main, `.run()`:         oslo is {oslo} °C (polled on thread {:?})",
        thread_name()
    );

    async_part(&client);

    // 4. Nesting: a coroutine whose body blocks on another one never deadlocks.
    let nested = anysync::run(async { sync_report(&client, "cairo") });
    println!("4. nested `.run()` inside `.run()`: {nested}");
    Ok(())
}
