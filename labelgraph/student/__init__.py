"""The student: the classifier the loop retrains every round (models.py: logistic, plug-ins; finetune.py: the encoder
trained end to end) and the folder an exported student lives in (folder.py: save, load, predict)."""
