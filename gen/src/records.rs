//! One record of each kind, as a struct whose field order is the JSON key order of the
//! Python reference. Each function draws its values from the shared [`Rng`] and [`Clock`].

use serde::Serialize;

use crate::rng::Rng;
use crate::time::Clock;
use crate::vocab::*;

/// A clickstream event (~520 B of JSON).
#[derive(Serialize)]
pub(crate) struct Click {
    event_id: String,
    user_id: String,
    session_id: String,
    event_type: &'static str,
    url: String,
    referrer: &'static str,
    user_agent: &'static str,
    ts: String,
    geo: Geo,
    props: ClickProps,
}

#[derive(Serialize)]
struct Geo {
    country: &'static str,
    city: &'static str,
}

/// The clickstream event's `props`: four fields always, the rest by event type.
#[derive(Serialize)]
struct ClickProps {
    device: &'static str,
    screen: &'static str,
    lang: &'static str,
    ab_bucket: &'static str,
    /// `click` and `add_to_cart`
    #[serde(skip_serializing_if = "Option::is_none")]
    element_id: Option<String>,
    /// `click` and `add_to_cart`
    #[serde(skip_serializing_if = "Option::is_none")]
    sku: Option<String>,
    /// `search`
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    /// `scroll`
    #[serde(skip_serializing_if = "Option::is_none")]
    depth_pct: Option<u64>,
    /// `checkout` and `purchase`
    #[serde(skip_serializing_if = "Option::is_none")]
    cart_value: Option<f64>,
}

/// An order (~340 B of JSON).
#[derive(Serialize)]
pub(crate) struct Order {
    order_id: String,
    customer_id: String,
    items: Vec<OrderItem>,
    /// Sum of `qty * price`, a decimal string with two decimals, e.g. `"259.44"`.
    total: String,
    currency: &'static str,
    status: &'static str,
    payment_method: &'static str,
    shipping: Shipping,
    ts: String,
}

#[derive(Serialize)]
struct OrderItem {
    sku: String,
    qty: u64,
    /// Whole cents divided by 100, e.g. `129.72`.
    price: f64,
}

#[derive(Serialize)]
struct Shipping {
    country: &'static str,
    city: &'static str,
    method: &'static str,
}

/// A service log line (~320 B of JSON).
#[derive(Serialize)]
pub(crate) struct LogLine {
    ts: String,
    level: &'static str,
    service: &'static str,
    host: String,
    region: &'static str,
    message: String,
    trace_id: String,
    span_id: String,
    latency_ms: u64,
    status_code: u16,
}

/// A clickstream event.
pub(crate) fn click(rng: &mut Rng, clock: &mut Clock) -> Click {
    let event_type = rng.pick_weighted(EVENT_TYPES);
    let utm = if rng.percent(15) {
        "?utm_source=newsletter&utm_campaign=spring"
    } else {
        ""
    };
    Click {
        event_id: uuid_like(rng),
        user_id: format!("u_{:07}", rng.range(1, 2_000_000)),
        session_id: format!("s_{}", rng.hex(16)),
        event_type,
        url: format!("https://shop.example.com{}{utm}", path(rng, 1000, 99_999)),
        referrer: rng.pick(REFERRERS),
        user_agent: rng.pick(USER_AGENTS),
        ts: clock.next_ts(rng),
        geo: geo(rng),
        props: click_props(rng, event_type),
    }
}

fn click_props(rng: &mut Rng, event_type: &str) -> ClickProps {
    let mut props = ClickProps {
        device: rng.pick(DEVICES),
        screen: rng.pick(SCREENS),
        lang: rng.pick(LANGS),
        ab_bucket: rng.pick(AB_BUCKETS),
        element_id: None,
        sku: None,
        query: None,
        depth_pct: None,
        cart_value: None,
    };
    match event_type {
        "click" | "add_to_cart" => {
            props.element_id = Some(format!("btn-{}", rng.pick(ELEMENTS)));
            props.sku = Some(sku(rng));
        }
        "search" => props.query = Some(search_query(rng)),
        "scroll" => props.depth_pct = Some(rng.range(5, 100)),
        // Python: round(uniform(5, 900), 2)
        "checkout" | "purchase" => props.cart_value = Some(cents_to_f64(rng.range(500, 90_000))),
        _ => {}
    }
    props
}

/// One to four search words separated by spaces, e.g. `"usb-c cable"`.
fn search_query(rng: &mut Rng) -> String {
    let words = rng.range(1, 4);
    let words: Vec<&str> = (0..words).map(|_| rng.pick(QUERY_WORDS)).collect();
    words.join(" ")
}

/// The `index`-th order (counting from 0), which also makes its `order_id`.
pub(crate) fn order(rng: &mut Rng, clock: &mut Clock, index: usize) -> Order {
    let customer_id = format!("c_{:07}", rng.range(1, 500_000));
    let item_count = rng.pick(ITEM_COUNTS);
    let mut items = Vec::new();
    let mut total_cents = 0;
    for _ in 0..item_count {
        let cents = rng.range(199, 25_000);
        let qty = rng.pick(QUANTITIES);
        total_cents += cents * qty;
        items.push(OrderItem {
            sku: sku(rng),
            qty,
            price: cents_to_f64(cents),
        });
    }
    let (country, city) = rng.pick(GEO);
    Order {
        order_id: format!("ord_{:010}", 10_000_000 + index as u64),
        customer_id,
        items,
        total: format!("{}.{:02}", total_cents / 100, total_cents % 100),
        currency: rng.pick_weighted(CURRENCIES),
        status: rng.pick(ORDER_STATUSES),
        payment_method: rng.pick(PAYMENT_METHODS),
        shipping: Shipping {
            country,
            city,
            method: rng.pick(SHIPPING_METHODS),
        },
        ts: clock.next_ts(rng),
    }
}

/// A log line.
pub(crate) fn log_line(rng: &mut Rng, clock: &mut Clock) -> LogLine {
    let latency_ms = if rng.percent(10) {
        rng.range(1, 3_000)
    } else {
        rng.range(1, 250)
    };
    let service = rng.pick(SERVICES);
    LogLine {
        ts: clock.next_ts(rng),
        level: rng.pick_weighted(LEVELS),
        service,
        host: format!("{service}-{}-{}", rng.hex(10), rng.hex(5)),
        region: rng.pick(REGIONS),
        message: log_message(rng, latency_ms),
        trace_id: rng.hex(32),
        span_id: rng.hex(16),
        latency_ms,
        status_code: rng.pick(STATUS_CODES),
    }
}

/// One of the reference's eight message templates, filled in; `latency_ms` is the record's.
fn log_message(rng: &mut Rng, latency_ms: u64) -> String {
    match rng.below(8) {
        0 => format!(
            "request completed method={} path={} status={} bytes={}",
            rng.pick(HTTP_METHODS),
            path(rng, 1, 9_999),
            rng.pick(MESSAGE_STATUSES),
            rng.range(100, 900_000)
        ),
        1 => format!(
            "cache miss key=product:{} backend=redis fallback=db",
            rng.range(1, 100_000_000)
        ),
        2 => format!(
            "user u_{:07} authenticated via oauth2 provider=google scopes=openid,email,profile",
            rng.range(1, 2_000_000)
        ),
        3 => format!(
            "upstream timeout after {latency_ms}ms calling {} attempt={}/3",
            rng.pick(SERVICES),
            rng.range(1, 3)
        ),
        4 => format!(
            "processed batch of {} messages from queue orders-events lag={}s",
            rng.range(1, 5_000),
            rng.range(0, 120)
        ),
        5 => format!(
            "db query slow table=orders rows={} duration_ms={latency_ms} plan=index_scan",
            rng.range(1, 5_000)
        ),
        6 => format!(
            "payment authorization declined code=insufficient_funds order={}",
            rng.range(1, 100_000_000)
        ),
        _ => format!(
            "GC pause {latency_ms}ms heap_used={} heap_max=4294967296",
            rng.range(100, 900_000)
        ),
    }
}

/// A URL path of the shop; `/products/{id}` takes an id in `min_id..=max_id`.
fn path(rng: &mut Rng, min_id: u64, max_id: u64) -> String {
    let template = rng.pick(PATHS);
    if template.contains("{id}") {
        template.replace("{id}", &rng.range(min_id, max_id).to_string())
    } else if template.contains("{cat}") {
        template.replace("{cat}", rng.pick(CATS))
    } else if template.contains("{slug}") {
        template.replace("{slug}", rng.pick(SLUGS))
    } else {
        template.to_owned()
    }
}

fn geo(rng: &mut Rng) -> Geo {
    let (country, city) = rng.pick(GEO);
    Geo { country, city }
}

/// `SKU-` and six digits, e.g. `SKU-031691`.
fn sku(rng: &mut Rng) -> String {
    format!("SKU-{:06}", rng.range(1, 250_000))
}

/// 36 characters shaped like a version-4 UUID, as the reference makes them (8-4-4-4-12 hex
/// digits, the third group starting with `4`; the variant bits are random).
fn uuid_like(rng: &mut Rng) -> String {
    format!(
        "{}-{}-4{}-{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(3),
        rng.hex(4),
        rng.hex(12)
    )
}

/// `cents / 100` as the nearest `f64`, which serde_json writes with at most two decimals
/// (`12.5`, `129.72`, `12.0`), like Python's `cents / 100`.
fn cents_to_f64(cents: u64) -> f64 {
    cents as f64 / 100.0
}
