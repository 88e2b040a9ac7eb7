"""Writes of the licences app. Other apps import from here (e.g. the leaver calls
`seats_reclaim_for_user`)."""

from apps.licenses.services.seats import (
    PoolExhausted,
    UnknownProduct,
    pool_create,
    pool_for,
    pool_set_capacity,
    product_create,
    reserve_draw,
    seat_allocate,
    seat_release,
    seats_reclaim_contract_ended,
    seats_reclaim_for_user,
    seats_reclaim_on_role_change,
    waitlist_enqueue,
    waitlist_serve,
)

__all__ = [
    "PoolExhausted",
    "UnknownProduct",
    "pool_create",
    "pool_for",
    "pool_set_capacity",
    "product_create",
    "reserve_draw",
    "seat_allocate",
    "seat_release",
    "seats_reclaim_contract_ended",
    "seats_reclaim_for_user",
    "seats_reclaim_on_role_change",
    "waitlist_enqueue",
    "waitlist_serve",
]
