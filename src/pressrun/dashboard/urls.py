"""The publisher dashboard, mounted at `/`. Page URLs are named for the navigation (nav.py)."""

from django.urls import URLPattern, URLResolver, path

from pressrun.dashboard.views import (
    account,
    account_settings,
    address_errors,
    billing,
    home,
    integrations,
    orders,
    projects,
    shipping_rules,
    warehouse_push,
    warehouse_rules,
    warehouse_stock,
    warehouses,
    webhooks,
)

app_name = "dashboard"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", account.root, name="root"),
    path("sign-in", account.sign_in, name="sign_in"),
    path("sign-out", account.sign_out, name="sign_out"),
    path("password-reset", account.password_reset_request, name="password_reset"),
    path(
        "password-reset/<str:encoded_id>/<str:token>",
        account.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("home", home.home, name="home"),
    path("settings", account_settings.account_settings, name="settings"),
    path("settings/carts", account_settings.cart_credentials, name="cart_credentials"),
    path("settings/cart-token", account_settings.cart_token_rotate, name="cart_token_rotate"),
    path("settings/password", account.password_change, name="password_change"),
    path("billing", billing.billing, name="billing"),
    path("billing/add-credit", billing.add_credit, name="add_credit"),
    path(
        "billing/checkout/<int:checkout_id>/paid",
        billing.checkout_return,
        name="checkout_return",
    ),
    path(
        "billing/checkout/<int:checkout_id>/canceled",
        billing.checkout_cancel,
        name="checkout_cancel",
    ),
    path("integrations", integrations.integrations, name="integrations"),
    path("integrations/test-order", integrations.test_order, name="test_order"),
    path("integrations/shipping-rules", shipping_rules.shipping_rules, name="shipping_rules"),
    path(
        "integrations/shipping-rules/<int:rule_id>/delete",
        shipping_rules.shipping_rule_remove,
        name="shipping_rule_remove",
    ),
    path(
        "integrations/unmatched/<int:unmatched_id>/map",
        integrations.unmatched_map,
        name="unmatched_map",
    ),
    path(
        "integrations/unmatched/<int:unmatched_id>/listing",
        integrations.unmatched_listing,
        name="unmatched_listing",
    ),
    path(
        "integrations/unmatched/<int:unmatched_id>/ignore",
        integrations.unmatched_ignore_view,
        name="unmatched_ignore",
    ),
    path(
        "integrations/unmatched/<int:unmatched_id>/ask-again",
        integrations.unmatched_unignore_view,
        name="unmatched_unignore",
    ),
    path(
        "integrations/deliveries/<int:delivery_id>",
        integrations.delivery_detail,
        name="delivery_detail",
    ),
    path(
        "integrations/deliveries/<int:delivery_id>/dismiss",
        integrations.delivery_dismiss_view,
        name="delivery_dismiss",
    ),
    path(
        "integrations/deliveries/<int:delivery_id>/replay",
        integrations.delivery_replay_view,
        name="delivery_replay",
    ),
    path("integrations/warehouses", warehouses.warehouses, name="warehouses"),
    path(
        "integrations/warehouses/<int:connection_id>/enabled",
        warehouses.warehouse_enabled,
        name="warehouse_enabled",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/unknown-skus",
        warehouses.warehouse_unknown_skus,
        name="warehouse_unknown_skus",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/orders",
        warehouses.warehouse_orders,
        name="warehouse_orders",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/shipments/<int:shipment_id>/send-again",
        warehouses.warehouse_shipment_postback_retry,
        name="warehouse_shipment_postback_retry",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/orders/recheck",
        warehouses.warehouse_orders_recheck,
        name="warehouse_orders_recheck",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/push",
        warehouse_push.warehouse_push,
        name="warehouse_push",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/push/secret",
        warehouse_push.warehouse_push_secret_new,
        name="warehouse_push_secret",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/push/<int:push_id>/again",
        warehouse_push.warehouse_push_send_again,
        name="warehouse_push_again",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/stock",
        warehouse_stock.warehouse_stock,
        name="warehouse_stock",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/password",
        warehouses.warehouse_password,
        name="warehouse_password",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/listings",
        warehouses.warehouse_listings,
        name="warehouse_listings",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/listings.csv",
        warehouses.warehouse_listings_csv,
        name="warehouse_listings_csv",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/carrier-codes",
        warehouse_rules.warehouse_carrier_codes,
        name="warehouse_carrier_codes",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/shipping-rules",
        warehouse_rules.warehouse_rules,
        name="warehouse_rules",
    ),
    path(
        "integrations/warehouses/<int:connection_id>/shipping-rules/<int:description_rule_id>"
        "/delete",
        warehouse_rules.warehouse_rule_remove,
        name="warehouse_rule_remove",
    ),
    path("integrations/webhooks", webhooks.webhooks, name="webhooks"),
    path("integrations/webhooks/secret", webhooks.webhook_secret_view, name="webhook_secret"),
    path("integrations/webhooks/test", webhooks.webhook_test, name="webhook_test"),
    path(
        "integrations/webhooks/deliveries/<int:webhook_delivery_id>",
        webhooks.webhook_delivery,
        name="webhook_delivery",
    ),
    path(
        "integrations/webhooks/deliveries/<int:webhook_delivery_id>/redeliver",
        webhooks.webhook_redeliver_view,
        name="webhook_redeliver",
    ),
    path("projects", projects.project_list, name="projects"),
    path("projects/new", projects.project_new, name="project_new"),
    path("projects/ecommerce-ids", projects.ecommerce_ids_check, name="ecommerce_ids_check"),
    path("projects/<int:project_id>", projects.project_edit, name="project_edit"),
    path("orders", orders.order_list, name="orders"),
    path("orders/export.csv", orders.order_export, name="orders_export"),
    path("orders/new", orders.order_new, name="order_new"),
    path("orders/<int:order_id>", orders.order_detail, name="order_detail"),
    path("orders/<int:order_id>/modify", orders.order_modify, name="order_modify"),
    path("orders/<int:order_id>/delete", orders.order_delete, name="order_delete"),
    path(
        "orders/<int:order_id>/address",
        address_errors.order_address_fix,
        name="order_address_fix",
    ),
    path(
        "orders/<int:order_id>/send-tracking-again",
        orders.order_postback_retry,
        name="order_postback_retry",
    ),
]
