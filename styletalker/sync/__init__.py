"""Lip sync: D_sync, the contrastive lip-sync discriminator of StyleTalker (the sync loss), and an independent
SyncNet-style evaluator that scores clips with the syncnet_python protocol (LSE-D, LSE-C, offset).

    data       mouth crops, mel windows, training runs of clips
    model      D_sync, InfoNCE, ``sync_loss``, ``load_dsync``
    evaluator  the evaluator network, ``lse``, ``load_evaluator``
    train      both training stages for the shared loop
    cli        ``styletalker train sync|evaluator`` and ``styletalker evaluate sync``
"""
