use axum::http::StatusCode;
use web::testing::TestApp;

#[tokio::test]
async fn front_page_renders_in_german_with_security_headers() {
    let app = TestApp::new().await;
    let r = app.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("<html lang=\"de\">"));
    assert!(r.body.contains("Zum Inhalt springen"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(r.header("x-request-id").is_some());
}
