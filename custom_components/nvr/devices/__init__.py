"""Recorders and cameras that list their own channels: Hikvision ISAPI and ONVIF.

Plain asyncio + aiohttp (and onvif-zeep-async, WSDiscovery); no Home
Assistant import, so the clients are tested against loopback peers alone.
"""
