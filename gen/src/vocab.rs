//! The vocabularies of the Python reference, value for value; weighted tables where the
//! reference repeats a value in a list (`["page_view"] * 50 + …`).

pub(crate) const EVENT_TYPES: &[(&str, u64)] = &[
    ("page_view", 50),
    ("click", 25),
    ("scroll", 10),
    ("add_to_cart", 6),
    ("search", 5),
    ("checkout", 2),
    ("purchase", 2),
];

/// URL paths; `{id}`, `{cat}` and `{slug}` are filled in by `records::path`.
pub(crate) const PATHS: &[&str] = &[
    "/",
    "/home",
    "/products",
    "/products/{id}",
    "/category/{cat}",
    "/search",
    "/cart",
    "/checkout",
    "/account/orders",
    "/blog/{slug}",
    "/help/{slug}",
];

pub(crate) const CATS: &[&str] = &[
    "shoes",
    "electronics",
    "books",
    "garden",
    "toys",
    "kitchen",
    "sports",
    "beauty",
];

pub(crate) const SLUGS: &[&str] = &[
    "how-to-return",
    "shipping-times",
    "summer-sale-2024",
    "best-running-shoes",
    "gift-guide",
    "privacy",
    "size-chart",
    "warranty-info",
];

pub(crate) const REFERRERS: &[&str] = &[
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://t.co/",
    "https://www.facebook.com/",
    "https://duckduckgo.com/",
    "",
    "",
    "https://news.ycombinator.com/",
    "https://www.reddit.com/r/deals/",
];

pub(crate) const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
];

/// (country, city)
pub(crate) const GEO: &[(&str, &str)] = &[
    ("US", "Seattle"),
    ("US", "New York"),
    ("US", "Austin"),
    ("DE", "Berlin"),
    ("DE", "Munich"),
    ("GB", "London"),
    ("FR", "Paris"),
    ("JP", "Tokyo"),
    ("IN", "Bengaluru"),
    ("BR", "Sao Paulo"),
    ("CA", "Toronto"),
    ("AU", "Sydney"),
];

pub(crate) const DEVICES: &[&str] = &["desktop", "mobile", "tablet"];
pub(crate) const SCREENS: &[&str] = &["1920x1080", "1440x900", "390x844", "412x915", "2560x1440"];
pub(crate) const LANGS: &[&str] = &["en-US", "en-GB", "de-DE", "fr-FR", "ja-JP", "pt-BR"];
pub(crate) const AB_BUCKETS: &[&str] = &["control", "variant_a", "variant_b"];
pub(crate) const ELEMENTS: &[&str] = &["buy", "add", "details", "wishlist", "share"];
pub(crate) const QUERY_WORDS: &[&str] = &[
    "red", "running", "shoes", "usb-c", "cable", "lamp", "organic", "coffee", "kids", "lego",
    "tent",
];

pub(crate) const ITEM_COUNTS: &[u64] = &[1, 1, 1, 2, 2, 3, 4, 5];
pub(crate) const QUANTITIES: &[u64] = &[1, 1, 1, 2, 3];
pub(crate) const CURRENCIES: &[(&str, u64)] = &[("USD", 6), ("EUR", 2), ("GBP", 1), ("JPY", 1)];
pub(crate) const ORDER_STATUSES: &[&str] = &[
    "created",
    "paid",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
];
pub(crate) const PAYMENT_METHODS: &[&str] = &["card", "card", "paypal", "apple_pay", "gift_card"];
pub(crate) const SHIPPING_METHODS: &[&str] = &["standard", "express", "pickup"];

pub(crate) const LEVELS: &[(&str, u64)] =
    &[("DEBUG", 20), ("INFO", 65), ("WARN", 10), ("ERROR", 5)];
pub(crate) const SERVICES: &[&str] = &[
    "checkout-api",
    "cart-svc",
    "auth-svc",
    "search-svc",
    "catalog-svc",
    "payments-gw",
    "notification-worker",
    "inventory-svc",
];
pub(crate) const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-1",
];
pub(crate) const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT"];
/// The `status=` of the "request completed" log message.
pub(crate) const MESSAGE_STATUSES: &[u16] = &[200, 200, 200, 201, 304, 400, 404, 500];
/// The `status_code` field of a log record.
pub(crate) const STATUS_CODES: &[u16] = &[200, 200, 200, 201, 204, 400, 401, 404, 429, 500, 503];
