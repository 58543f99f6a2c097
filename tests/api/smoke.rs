use crate::helpers::TestApp;

#[actix_web::test]
async fn login_page_renders() {
    let app = TestApp::spawn().await;
    let res = app.get("/login").await;
    assert_eq!(res.status, 200, "{}", res.body);
}
