"""The demo's touchpoint catalogue: every channel, every stage of both default journey maps.

Set up before the shop's first customer came (``at``, with the clock there), so every journey the
demo records runs through touchpoints that already existed.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.demo.story import story_clock
from crm.enums import Channel
from journeys.maps.models import Touchpoint
from journeys.maps.services import create_touchpoint

C = Channel
# (key, name, channel, map, stage): every channel, every stage of both default maps.
TOUCHPOINTS = (
    ("social.instagram-ad", "Instagram ad", C.SOCIAL, "purchase", "awareness"),
    ("web.blog-article", "Gear guide on the blog", C.WEB, "purchase", "awareness"),
    ("email.newsletter", "Newsletter", C.EMAIL, "purchase", "awareness"),
    ("store.window-display", "Store window display", C.STORE, "purchase", "awareness"),
    ("web.product-page", "Product page", C.WEB, "purchase", "consideration"),
    ("app.product-page", "Product page in the app", C.APP, "purchase", "consideration"),
    ("social.reviews", "Reviews and unboxing videos", C.SOCIAL, "purchase", "consideration"),
    ("chat.pre-sales", "Pre-sales chat", C.CHAT, "purchase", "consideration"),
    ("store.showroom", "Showroom and test area", C.STORE, "purchase", "consideration"),
    ("phone.sales-line", "Sales line", C.PHONE, "purchase", "consideration"),
    ("web.checkout", "Web checkout", C.WEB, "purchase", "purchase"),
    ("app.checkout", "App checkout", C.APP, "purchase", "purchase"),
    ("store.till", "Store till", C.STORE, "purchase", "purchase"),
    ("phone.order-line", "Order by phone", C.PHONE, "purchase", "purchase"),
    ("email.order-confirmation", "Order confirmation", C.EMAIL, "purchase", "purchase"),
    ("sms.delivery-update", "Delivery updates by text", C.SMS, "purchase", "purchase"),
    ("email.welcome-series", "Welcome emails", C.EMAIL, "purchase", "onboarding"),
    ("app.setup-wizard", "Product setup in the app", C.APP, "purchase", "onboarding"),
    ("self-service.setup-guide", "Online setup guide", C.SELF_SERVICE, "purchase", "onboarding"),
    ("push.first-steps", "First-steps tips", C.PUSH, "purchase", "onboarding"),
    ("app.daily-use", "App in daily use", C.APP, "purchase", "usage"),
    ("email.care-tips", "Care and usage tips", C.EMAIL, "purchase", "usage"),
    ("social.community", "Owners' community", C.SOCIAL, "purchase", "usage"),
    ("phone.hotline", "Service hotline", C.PHONE, "after-sales", "reception"),
    ("chat.support", "Support chat", C.CHAT, "after-sales", "reception"),
    ("email.support", "Support mailbox", C.EMAIL, "after-sales", "reception"),
    ("web.support-form", "Support form", C.WEB, "after-sales", "reception"),
    ("store.service-counter", "Store service counter", C.STORE, "after-sales", "reception"),
    ("social.support-dm", "Direct message to support", C.SOCIAL, "after-sales", "reception"),
    ("self-service.help-centre", "Help centre search", C.SELF_SERVICE, "after-sales", "reception"),
    ("store.repair-desk", "Repair desk", C.STORE, "after-sales", "diagnosis"),
    ("service-centre.diagnosis", "Service centre diagnosis", C.SERVICE_CENTER, "after-sales", "diagnosis"),
    ("phone.troubleshooting", "Guided troubleshooting by phone", C.PHONE, "after-sales", "diagnosis"),
    ("self-service.troubleshooter", "Online troubleshooter", C.SELF_SERVICE, "after-sales", "diagnosis"),
    ("service-centre.repair", "Service centre repair", C.SERVICE_CENTER, "after-sales", "solution"),
    ("store.exchange", "Exchange in store", C.STORE, "after-sales", "solution"),
    ("self-service.returns-portal", "Returns portal", C.SELF_SERVICE, "after-sales", "solution"),
    # Case steps land on the stage's touchpoint of the case's channel, else the first by key: this one.
    ("email.solution-proposal", "Solution proposal", C.EMAIL, "after-sales", "solution"),
    ("email.satisfaction-survey", "Satisfaction survey", C.EMAIL, "after-sales", "follow-up"),
    ("phone.follow-up-call", "Follow-up call", C.PHONE, "after-sales", "follow-up"),
)


def seed_touchpoints(session: Session, at: datetime) -> None:
    existing = set(session.scalars(select(Touchpoint.key)))
    session.commit()  # end the read transaction before the services write
    with story_clock() as story:
        story.at(at)
        for key, name, channel, journey_map, stage in TOUCHPOINTS:
            if key not in existing:
                create_touchpoint(session, key=key, name=name, channel=channel, stage=stage,
                                  journey_map=journey_map)
