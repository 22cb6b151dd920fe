"""Offline music-for-video engine: probe, analyse, compose, synthesise, mix, mux and fit."""

__version__ = "0.1.0"
