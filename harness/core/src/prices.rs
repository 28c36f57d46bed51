//! The one table of prices reports use, each with its source and date
//! (`../shared/reference/dynamodb-rules.md`, "Prices for reports"). A report
//! that shows dollars prints the row it used, so a stale price is visible.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    pub item: &'static str,
    pub dollars: f64,
    pub per: &'static str,
    pub source: &'static str,
}

/// us-east-1, on-demand: one read request unit (4 KB strong, 8 KB eventual).
pub const ON_DEMAND_READ_UNIT: Price = Price {
    item: "on-demand read request unit",
    dollars: 0.125,
    per: "million units",
    source: "after the Nov 2024 cut (third-party pages, 2025)",
};

/// us-east-1, on-demand: one write request unit (1 KB).
pub const ON_DEMAND_WRITE_UNIT: Price = Price {
    item: "on-demand write request unit",
    dollars: 0.625,
    per: "million units",
    source: "after the Nov 2024 cut (third-party pages, 2025)",
};

pub const PROVISIONED_RCU_HOUR: Price = Price {
    item: "provisioned RCU",
    dollars: 0.00013,
    per: "RCU-hour",
    source: "undated third-party page",
};

pub const PROVISIONED_WCU_HOUR: Price = Price {
    item: "provisioned WCU",
    dollars: 0.00065,
    per: "WCU-hour",
    source: "undated third-party page",
};

pub const DYNAMODB_STORAGE: Price = Price {
    item: "DynamoDB storage (first 25 GB free)",
    dollars: 0.25,
    per: "GB-month",
    source: "AWS pricing page excerpt",
};

pub const S3_STANDARD_STORAGE: Price = Price {
    item: "S3 Standard storage",
    dollars: 0.023,
    per: "GB-month",
    source: "March 2026",
};

pub const S3_PUT: Price = Price {
    item: "S3 PUT",
    dollars: 0.005,
    per: "thousand requests",
    source: "undated",
};

pub const S3_GET: Price = Price {
    item: "S3 GET",
    dollars: 0.0004,
    per: "thousand requests",
    source: "undated",
};

pub const ALL: [Price; 8] = [
    ON_DEMAND_READ_UNIT,
    ON_DEMAND_WRITE_UNIT,
    PROVISIONED_RCU_HOUR,
    PROVISIONED_WCU_HOUR,
    DYNAMODB_STORAGE,
    S3_STANDARD_STORAGE,
    S3_PUT,
    S3_GET,
];

/// On-demand dollars for one million operations that each consume
/// `read_units` (RCU as a Query reports them: a strong 4 KB read is one
/// request unit, an eventual one half).
pub fn on_demand_read_dollars_per_million(read_units: f64) -> f64 {
    read_units * ON_DEMAND_READ_UNIT.dollars
}

pub fn on_demand_write_dollars_per_million(write_units: f64) -> f64 {
    write_units * ON_DEMAND_WRITE_UNIT.dollars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_searches_of_eleven_units_cost_eleven_times_the_unit_price() {
        assert!((on_demand_read_dollars_per_million(11.0) - 1.375).abs() < 1e-12);
        assert!((on_demand_write_dollars_per_million(2.0) - 1.25).abs() < 1e-12);
    }

    #[test]
    fn every_price_names_its_source() {
        assert!(ALL.iter().all(|p| !p.source.is_empty() && p.dollars > 0.0));
    }
}
