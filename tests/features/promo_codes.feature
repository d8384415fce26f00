# language: fr
Fonctionnalité: Codes promo imprimés pour une adhésion offerte
  Un responsable de campagne génère des codes uniques, à usage unique, imprimés
  sur des cartes papier. Un étudiant saisit un code sur le site adhérent :
  l'adhésion (9 € d'habitude) entre dans son panier à 0 € et devient active
  quand il valide son panier. La comptabilité voit chaque paiement par code
  avec le nom de la campagne.

  Contexte:
    Étant donné l'adhésion "Adhésion annuelle" à 9.00 €
    Et un responsable de campagne connecté

  @code
  Scénario: Un code se lit, se recopie et se vérifie
    Quand il crée la campagne "Rentrée 2026" de 3 codes pour le client "YOOT"
    Alors la campagne est prête avec 3 codes
    Et chaque code s'écrit "YOOT-RENTREE2026-" puis 8 caractères aléatoires et 1 caractère de contrôle
    Et chaque code recopié avec un caractère faux n'est le code de personne

  @codes
  Scénario: Une campagne de 500 codes exportée en CSV
    Quand il crée la campagne "Salon 2026" de 500 codes pour le client "YOOT"
    Alors la campagne est prête avec 500 codes
    Et le fichier CSV "codes-promo-campagne-Salon 2026.csv" liste 500 codes tous différents

  @doublons
  Scénario: Un code déjà tiré est tiré à nouveau
    Étant donné que les campagnes peuvent compter 100000 codes
    Quand il crée la campagne "Été" de 90000 codes de 4 caractères pour le client "YOOT"
    Et il crée la campagne "ete !" de 90000 codes de 4 caractères pour le client "YOOT"
    Alors les deux campagnes sont prêtes avec 90000 codes chacune
    Et leurs 180000 codes commencent tous par "YOOT-ETE-" et sont tous différents

  @impossible
  Scénario: Une demande que l'espace des codes ne peut pas contenir est refusée d'emblée
    Étant donné que les campagnes peuvent compter 1000000 codes
    Quand il demande la campagne "Trop" de 200000 codes de 4 caractères
    Alors la demande est refusée avec l'erreur "code_space_too_small"
    Et aucune campagne n'existe

  @activation
  Scénario: Un étudiant active un code dans son panier
    Étant donné la campagne "Rentrée 2026" prête
    Et un étudiant connecté avec son panier
    Quand l'étudiant active un code de la campagne
    Alors la réponse est 200 "Activation Succeeded" sans erreur
    Et son panier contient "Adhésion annuelle" au tarif "promo_code" à 0.00 € au lieu de 9.00 €

  @anonyme
  Scénario: Un visiteur non identifié ne peut pas activer de code
    Étant donné la campagne "Rentrée 2026" prête
    Et un étudiant connecté avec son panier
    Quand un visiteur non identifié active un code de la campagne dans ce panier
    Alors la réponse est 401 "You need to be identified, please login" sans erreur

  @invalide
  Scénario: Un code inconnu, mal recopié ou déjà utilisé est refusé
    Étant donné la campagne "Rentrée 2026" prête
    Et un étudiant connecté avec son panier
    Quand l'étudiant active le code "YOOT-RENTREE2026-ABCDEFGHJ"
    Alors la réponse est 400 "Activation Failed" avec l'erreur "Invalid code"
    Quand un autre étudiant a déjà utilisé un code de la campagne
    Et l'étudiant active ce même code
    Alors la réponse est 400 "Activation Failed" avec l'erreur "Invalid code"

  @valide
  Scénario: Un code valide est marqué utilisé par l'étudiant
    Étant donné la campagne "Rentrée 2026" prête
    Et un étudiant connecté avec son panier
    Quand l'étudiant active un code de la campagne
    Alors la réponse est 200 "Activation Succeeded" sans erreur
    Et le code est marqué utilisé par l'étudiant dans la campagne

  @paiement
  Scénario: Le panier à 0 € est validé sans paiement et l'adhésion devient active
    Étant donné la campagne "Rentrée 2026" prête
    Et un étudiant connecté avec son panier
    Et l'étudiant a activé un code de la campagne
    Quand l'étudiant choisit son moyen de paiement
    Alors la réponse indique "NothingToPay" et le panier est validé
    Et l'adhésion "Adhésion annuelle" de l'étudiant est active
    Et le livre de caisse du jour montre "Code promo (Rentrée 2026)" pour 9.00 € dont 0.00 € encaissé

  # La vie d'une campagne après son lancement (spec 55).

  @revocation
  Scénario: Un code perdu est révoqué puis rétabli
    Étant donné la campagne "Rentrée 2026" prête
    Et un étudiant connecté avec son panier
    Quand le responsable révoque le premier code de la campagne
    Et l'étudiant active le premier code de la campagne
    Alors la réponse est 400 "Activation Failed" avec l'erreur "Invalid code"
    Quand le responsable rétablit le premier code de la campagne
    Et l'étudiant active le premier code de la campagne
    Alors la réponse est 200 "Activation Succeeded" sans erreur

  @desactivation
  Scénario: Une campagne désactivée refuse ses codes jusqu'à ce qu'elle soit réactivée
    Étant donné la campagne "Rentrée 2026" prête
    Et un étudiant connecté avec son panier
    Quand le responsable désactive la campagne
    Et l'étudiant active le premier code de la campagne
    Alors la réponse est 400 "Activation Failed" avec l'erreur "Invalid code"
    Quand le responsable réactive la campagne
    Et l'étudiant active le premier code de la campagne
    Alors la réponse est 200 "Activation Succeeded" sans erreur

  @prolongation
  Scénario: Une campagne prolongée juste avant son terme reste ouverte
    Étant donné la campagne "Rentrée 2026" prête qui se termine dans 6 secondes
    Et un étudiant connecté avec son panier
    Quand le responsable repousse sa fin de 30 jours
    Et son terme d'origine est passé
    Alors la campagne est toujours prête
    Quand l'étudiant active le premier code de la campagne
    Alors la réponse est 200 "Activation Succeeded" sans erreur

  @sansfin
  Scénario: Une campagne sans date de fin n'expire jamais
    Quand il crée la campagne "Permanente" de 3 codes sans date de fin
    Alors la campagne est prête avec 3 codes
    Et la campagne n'a pas de date de fin

  @ajout
  Scénario: Des codes sont ajoutés à une campagne déjà imprimée
    Étant donné la campagne "Rentrée 2026" prête
    Quand le responsable ajoute 5 codes à la campagne
    Alors la campagne est prête avec 25 codes

  @limite
  Scénario: Un étudiant n'active pas plus de codes que la campagne ne le permet
    Étant donné la campagne "Un par étudiant" prête avec 1 code par étudiant
    Et un étudiant connecté avec son panier
    Quand l'étudiant active le premier code de la campagne
    Alors la réponse est 200 "Activation Succeeded" sans erreur
    Quand l'étudiant active le deuxième code de la campagne
    Alors la réponse est 400 "Activation Failed" avec l'erreur "Code limit reached"

  @reprise
  Scénario: Une activation renvoyée par l'application réussit à nouveau sans rien ajouter
    Étant donné la campagne "Rentrée 2026" prête
    Et un étudiant connecté avec son panier
    Quand l'étudiant active le premier code de la campagne
    Et l'étudiant active le premier code de la campagne
    Alors la réponse est 200 "Activation Succeeded" sans erreur
    Et son panier contient "Adhésion annuelle" au tarif "promo_code" à 0.00 € au lieu de 9.00 €

  @retrait
  Scénario: Un étudiant retire un code de son panier et le code redevient libre
    Étant donné la campagne "Rentrée 2026" prête
    Et un étudiant connecté avec son panier
    Et l'étudiant a activé un code de la campagne
    Quand l'étudiant retire cette ligne de son panier
    Alors son panier est vide
    Et un autre étudiant peut activer ce code
