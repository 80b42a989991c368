"""Referral partners: tracking links, referrals, attribution and commissions."""
