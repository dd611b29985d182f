//! `enrichAddress(country, postcode): Address` — data enrichment: looks the postcode up in an
//! external API (the handler's `api_url` config) over outbound HTTP, which only works for the
//! hosts in the handler's `allowed_hosts`.

use hookwing_sdk::http::Request;
use hookwing_sdk::{ActionError, Context};
use serde::{Deserialize, Serialize};

/// The action's arguments.
#[derive(Debug, Deserialize)]
pub struct Lookup {
    pub country: String,
    pub postcode: String,
}

/// What the postcode API answers.
#[derive(Debug, Deserialize)]
struct Place {
    city: String,
    region: String,
}

/// The action's output type.
#[derive(Debug, PartialEq, Serialize)]
pub struct Address {
    pub country: String,
    pub postcode: String,
    pub city: String,
    pub region: String,
}

/// Looks the postcode up. Unknown postcodes are rejected; a failing API is retried.
pub fn enrich(input: Lookup, ctx: &Context) -> Result<Address, ActionError> {
    let api = ctx.config("api_url").ok_or_else(|| {
        ActionError::new("enrichAddress is not configured").with_code("not-configured")
    })?;
    let country = input.country.trim().to_ascii_uppercase();
    let postcode: String = input
        .postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let url = format!(
        "{}/postcodes/{country}/{postcode}",
        api.trim_end_matches('/')
    );
    let response = ctx.http(Request::get(&url).header("accept", "application/json"))?;
    match response.status {
        200 => {
            let place: Place = response.json()?;
            Ok(Address {
                country,
                postcode,
                city: place.city,
                region: place.region,
            })
        }
        404 => Err(
            ActionError::new(format!("unknown postcode {postcode} in {country}"))
                .with_code("not-found"),
        ),
        status => Err(ActionError::retry(format!(
            "postcode API answered {status}"
        ))),
    }
}

hookwing_sdk::export_handler!(enrich);

#[cfg(test)]
mod tests {
    use hookwing_sdk::http::{HttpError, Response};
    use hookwing_sdk::testing::TestContext;
    use serde_json::json;

    use super::*;

    fn api(status: u16, body: &str) -> TestContext {
        let body = body.as_bytes().to_vec();
        TestContext::new("enrichAddress")
            .config("api_url", "https://postcodes.example")
            .http(move |_| {
                Ok(Response {
                    status,
                    headers: Vec::new(),
                    body: body.clone(),
                })
            })
    }

    #[test]
    fn known_postcode_is_enriched() {
        let test = api(200, r#"{"city": "Paris", "region": "Ile-de-France"}"#);
        let output = test.call(enrich, json!({"country": "fr", "postcode": "75 001"}));
        assert_eq!(
            output,
            Ok(
                json!({"country": "FR", "postcode": "75001", "city": "Paris", "region": "Ile-de-France"})
            )
        );
        assert_eq!(
            test.requests()[0].url,
            "https://postcodes.example/postcodes/FR/75001"
        );
    }

    #[test]
    fn unknown_postcode_is_rejected_and_outages_are_retried() {
        let error = api(404, "")
            .call(enrich, json!({"country": "FR", "postcode": "0"}))
            .expect_err("404");
        assert_eq!((error.code(), error.is_retry()), (Some("not-found"), false));
        let error = api(503, "")
            .call(enrich, json!({"country": "FR", "postcode": "1"}))
            .expect_err("503");
        assert!(error.is_retry());
        let down = TestContext::new("enrichAddress")
            .config("api_url", "https://postcodes.example")
            .http(|_| Err(HttpError("connection refused".into())));
        assert!(
            down.call(enrich, json!({"country": "FR", "postcode": "1"}))
                .expect_err("down")
                .is_retry()
        );
    }
}
