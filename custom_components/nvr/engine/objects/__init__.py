"""Object detection: people, vehicles, bicycles and animals, on the CPU with numpy alone.

``network`` runs the model, ``ssd`` decodes its boxes, ``detector`` ties
them to pictures, ``worker`` is the one thread every channel shares,
``presence`` turns sightings into events and ``channel`` connects a
channel's motion worker, recorder and callback to all of it.
"""
